import { profileName } from '../../core/release/deploy-model';
import type { ExecutorContext } from '@nx/devkit';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildInfo } from '../../core/image/build-info';
import { APP_ENV } from '../../core/config/names';
import { loadProfile } from '../../core/config/profile';
import { resolveGitSha, resolveTag } from '../../core/release/tags';
import { gitShortSha } from '../../shell/git';
import { log } from '../../shell/log';
import type { MetricsInjectExecutorSchema } from './schema';

export default async function metricsInject(
  options: MetricsInjectExecutorSchema,
  context: ExecutorContext,
): Promise<{ success: boolean }> {
  try {
    const env = process.env;
    const profileId = profileName(options);
    const profile = loadProfile(context.root, profileId, env, {
      require: ['registry', 'registry_namespace'],
    });
    const gitSha = resolveGitSha(env[APP_ENV.gitSha], await gitShortSha(context.root));
    if (!gitSha && !env[APP_ENV.imageTag]) {
      log.warn(`No git commit and no ${APP_ENV.imageTag}: build info says "unknown" / "dev".`);
    }
    const tag =
      gitSha || env[APP_ENV.imageTag]
        ? resolveTag({ envImageTag: env[APP_ENV.imageTag], gitSha })
        : 'dev';
    const info = buildInfo({
      app: options.app,
      hasFrontend: options.hasFrontend ?? true,
      gitSha: gitSha ?? 'unknown',
      tag,
      profile: profileId,
      registry: profile.registry,
      namespace: profile.registry_namespace,
      now: new Date(),
    });
    const file = join(context.root, options.outputFile);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(info, null, 2) + '\n');
    log.info(
      `Wrote ${options.outputFile}: git_sha=${info.git_sha} image_tag=${info.image_tag} profile=${profileId}`,
    );
    return { success: true };
  } catch (error) {
    log.error((error as Error).message);
    return { success: false };
  }
}
