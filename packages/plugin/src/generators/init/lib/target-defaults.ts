import type { TargetConfiguration } from '@nx/devkit';
import {
  APP_ENV,
  PLUGIN_NAME,
  PROFILES_DIR,
  RELEASE_RECORD_DIR,
  TOOL_ENV,
  sshVars,
} from '../../../core/names';

const profileInputs = [`{workspaceRoot}/${PROFILES_DIR}/*.yml`];
const registryEnv = [APP_ENV.registryUrl, APP_ENV.registryNs, sshVars('local').registry].map(
  (env) => ({ env }),
);

/**
 * nx.json targetDefaults for Conveyor's executors, keyed by executor: cacheable
 * targets declare exactly what they read.
 */
export function conveyorTargetDefaults(): Record<string, Partial<TargetConfiguration>> {
  return {
    [`${PLUGIN_NAME}:metrics-inject`]: {
      cache: true,
      inputs: [
        ...profileInputs,
        { runtime: 'git rev-parse HEAD' },
        { env: APP_ENV.gitSha },
        { env: APP_ENV.imageTag },
        ...registryEnv,
      ],
      outputs: ['{options.outputFile}'],
    },
    [`${PLUGIN_NAME}:build-push`]: {
      cache: true,
      dependsOn: ['^build', '^metrics-inject'],
      inputs: [
        '^production',
        { dependentTasksOutputFiles: '**/*', transitive: true },
        ...profileInputs,
        { runtime: 'git rev-parse HEAD' },
        { env: APP_ENV.imageTag },
        { env: TOOL_ENV.engine },
        ...registryEnv,
      ],
      outputs: [`{workspaceRoot}/${RELEASE_RECORD_DIR}/{projectName}`],
    },
    [`${PLUGIN_NAME}:deploy`]: { cache: false },
    [`${PLUGIN_NAME}:rollback`]: { cache: false },
  };
}
