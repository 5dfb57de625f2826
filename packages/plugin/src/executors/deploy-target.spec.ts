import type { ExecutorContext } from '@nx/devkit';
import { deployModel, publishedPorts } from '../core/release/deploy-model';
import type { Profile } from '../core/config/profile';
import { stackProject } from '../generators/monitoring/lib/stack';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { normalizeOptions } from '../generators/monitoring/lib/normalize-options';
import { withDeployOptions } from './deploy-target';

const staging = { name: 'staging', strategy: 'blue-green' } as Profile;

function contextOf(
  project: ExecutorContext['projectsConfigurations']['projects'][string],
  target: string,
) {
  return {
    projectName: 'monitoring',
    targetName: target,
    configurationName: 'staging',
    projectsConfigurations: { version: 2, projects: { monitoring: project } },
  };
}

describe('the deploy target, read by rollback, doctor and bootstrap', () => {
  it("gives the monitoring stack's doctor its deploy target's recreate, so no colour port is checked", () => {
    const stack = stackProject(
      normalizeOptions(createTreeWithEmptyWorkspace(), { deploy: true, profile: 'staging' }),
    );
    const options = withDeployOptions(
      { profile: 'staging', minFreeGiB: 2 },
      contextOf(stack, 'doctor'),
    );
    expect(options).toMatchObject({ strategy: 'recreate', minFreeGiB: 2 });
    const model = deployModel({ app: 'monitoring', options, profile: staging, env: {} });
    expect(model.strategy).toBe('recreate');
    expect(publishedPorts(model.strategy, model.ports)).toEqual([model.ports.backend]);
  });

  it("takes the configuration's values over the target's, and the command's own over both", () => {
    const project = {
      root: 'apps/shop',
      targets: {
        deploy: {
          executor: '@conveyor/plugin:deploy',
          options: { profile: 'local', backendPort: 8080, healthTimeout: 30 },
          configurations: { staging: { profile: 'staging', backendPort: 8081 } },
        },
      },
    };
    const o = withDeployOptions(
      { profile: 'staging', healthTimeout: 5, to: undefined },
      {
        ...contextOf(project, 'rollback'),
        projectName: 'monitoring',
      },
    );
    expect(o).toMatchObject({ profile: 'staging', backendPort: 8081, healthTimeout: 5 });
  });

  it('refuses a project without a Conveyor deploy target, naming it', () => {
    expect(() => withDeployOptions({}, contextOf({ root: 'x', targets: {} }, 'doctor'))).toThrow(
      "monitoring has no deploy target run by Conveyor's deploy executor: doctor reads",
    );
  });
});
