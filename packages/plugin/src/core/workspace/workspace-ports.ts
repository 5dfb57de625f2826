/**
 * The port plan across the apps of a workspace. Profiles are the workspace's, so every app of a
 * profile deploys to the same hosts: no port of one app (public, or a blue-green colour's) may be
 * a port of another. Pure.
 */
import { portPlan } from '../config/ports';

export interface AppPorts {
  app: string;
  backendPort: number;
  frontendPort?: number;
}

export interface PortCollision {
  port: number;
  a: { app: string; what: string };
  b: { app: string; what: string };
}

export function portCollisions(apps: AppPorts[]): PortCollision[] {
  const taken = new Map<number, { app: string; what: string }>();
  const collisions: PortCollision[] = [];
  for (const app of [...apps].sort((x, y) => x.app.localeCompare(y.app))) {
    for (const p of portPlan(app.backendPort, app.frontendPort)) {
      const other = taken.get(p.port);
      if (other && other.app !== app.app) {
        collisions.push({ port: p.port, a: other, b: { app: app.app, what: p.what } });
      } else if (!other) taken.set(p.port, { app: app.app, what: p.what });
    }
  }
  return collisions;
}

export function collisionMessage(c: PortCollision): string {
  return (
    `Port ${c.port} is ${c.a.what} of app "${c.a.app}" and ${c.b.what} of app "${c.b.app}"; ` +
    `both deploy to the same hosts. Give one of them other ports (deploy target options ` +
    `backendPort/frontendPort in its project.json, and its docker-compose.staging.yml defaults).`
  );
}

/**
 * The first backend/frontend pair from the defaults on that collides with no other app (the
 * app's own plan is checked by checkPortPlan): 8080/5173, then 8090/5183, ... Given ports are kept as they are.
 */
export function freePorts(
  apps: AppPorts[],
  want: { backendPort?: number; frontendPort?: number; hasFrontend: boolean },
  defaults = { backendPort: 8080, frontendPort: 5173 },
): { backendPort: number; frontendPort: number } {
  for (let step = 0; step < 500; step++) {
    const backendPort = want.backendPort ?? defaults.backendPort + step * 10;
    const frontendPort = want.frontendPort ?? defaults.frontendPort + step * 10;
    const candidate: AppPorts = {
      app: '\u0000new',
      backendPort,
      frontendPort: want.hasFrontend ? frontendPort : undefined,
    };
    const mine = portCollisions([...apps, candidate]).filter(
      (c) => c.a.app === candidate.app || c.b.app === candidate.app,
    );
    if (mine.length === 0) return { backendPort, frontendPort };
    if (want.backendPort !== undefined && want.frontendPort !== undefined) break;
  }
  return {
    backendPort: want.backendPort ?? defaults.backendPort,
    frontendPort: want.frontendPort ?? defaults.frontendPort,
  };
}
