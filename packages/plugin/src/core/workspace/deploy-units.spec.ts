import type { ProjectConfiguration } from '@nx/devkit';
import { DEPLOY_EXECUTOR, deployUnit } from './deploy-units';

const project = (options: Record<string, unknown>): ProjectConfiguration => ({
  root: 'apps/shop',
  targets: { deploy: { executor: DEPLOY_EXECUTOR, options } },
});

describe('deployUnit', () => {
  it("reads the deploy target's ports and profiles", () => {
    expect(
      deployUnit('shop', project({ backendPort: 8080, frontendPort: '5173', profile: 'staging' })),
    ).toMatchObject({ name: 'shop', backendPort: 8080, frontendPort: 5173, profiles: ['staging'] });
    expect(deployUnit('shop', project({}))?.backendPort).toBeUndefined();
    expect(deployUnit('lib', { root: 'libs/lib', targets: {} })).toBeUndefined();
  });

  it.each([0, -1, 70000, 80.5, 'x'])(
    'refuses the port %p, naming the project file and the option',
    (bad) => {
      for (const option of ['backendPort', 'frontendPort'])
        expect(() => deployUnit('shop', project({ backendPort: 8080, [option]: bad }))).toThrow(
          `apps/shop/project.json: targets.deploy.options.${option} must be a port number (an integer from 1 to 65535), got "${bad}".`,
        );
    },
  );
});
