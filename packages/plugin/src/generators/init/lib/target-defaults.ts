import type { TargetConfiguration } from '@nx/devkit';
import { APP_ENV, PLUGIN_NAME, PROFILES_DIR, sshVars } from '../../../core/config/names';

const profileInputs = [`{workspaceRoot}/${PROFILES_DIR}/*.yml`];
const registryEnv = [APP_ENV.registryUrl, APP_ENV.registryNs, sshVars('local').registry].map(
  (env) => ({ env }),
);

/**
 * nx.json targetDefaults for Conveyor's executors, keyed by executor: cacheable
 * targets declare exactly what they read; targets whose effect is outside the
 * workspace (registry, hosts) are not cached.
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
    // Not cached: what build-push does lives in the registry, which Nx's cache cannot see (after a
    // registry clean-up a cache hit would report images that are gone). Its own skip is by
    // content: inputs the registry already holds are re-tagged there, not rebuilt or pushed.
    [`${PLUGIN_NAME}:build-push`]: {
      cache: false,
      dependsOn: ['^build', '^metrics-inject'],
    },
    [`${PLUGIN_NAME}:deploy`]: { cache: false },
    [`${PLUGIN_NAME}:rollback`]: { cache: false },
  };
}

/** Settings init puts back even over the workspace's own (an earlier init wrote build-push as cached). */
export function enforcedTargetDefaults(): Record<string, Partial<TargetConfiguration>> {
  return {
    [`${PLUGIN_NAME}:build-push`]: { cache: false },
    [`${PLUGIN_NAME}:deploy`]: { cache: false },
    [`${PLUGIN_NAME}:rollback`]: { cache: false },
  };
}
