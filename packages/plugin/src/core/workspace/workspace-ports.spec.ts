import { collisionMessage, freePorts, portCollisions } from './workspace-ports';

describe('port plan across apps', () => {
  it('finds a colour port of one app that is a port of another, naming both and the port', () => {
    const c = portCollisions([
      { app: 'shop', backendPort: 8080, frontendPort: 5173 },
      { app: 'blog', backendPort: 18080 },
    ]);
    expect(c.map((x) => x.port)).toEqual([18080, 28080]);
    expect(collisionMessage(c[0])).toMatch(
      /^Port 18080 is the backend's public port of app "blog" and the backend's blue port .* of app "shop"/,
    );
  });
  it('picks the first free pair for a new app and keeps given ports', () => {
    const apps = [{ app: 'shop', backendPort: 8080, frontendPort: 5173 }];
    expect(freePorts(apps, { hasFrontend: true })).toEqual({
      backendPort: 8090,
      frontendPort: 5183,
    });
    expect(freePorts([], { hasFrontend: true })).toEqual({ backendPort: 8080, frontendPort: 5173 });
    expect(freePorts(apps, { hasFrontend: false, backendPort: 9000 }).backendPort).toBe(9000);
  });
});
