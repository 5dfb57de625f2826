import type { ExecutorContext } from '@nx/devkit';
import { profileName } from '../../core/deploy-model';
import { loadProfile } from '../../core/profile';
import { redact, secretValues } from '../../core/redact';
import { log } from '../../shell/log';
import { PrivateDir } from '../../shell/temp';
import { withDeployOptions } from '../deploy-target';
import { sshSettings, whereText } from '../deploy/lib/connection';
import { loadDeployModel } from '../deploy/lib/inventory';
import { checkHost } from './check-host';
import type { DoctorExecutorSchema } from './schema';

/** Checks that each host is ready for the app and prints, per check, ok or what to fix. */
export default async function doctor(options: DoctorExecutorSchema, context: ExecutorContext) {
  const env = process.env;
  const secrets = secretValues(env);
  const dir = new PrivateDir('conveyor-doctor-');
  const app = context.projectName as string;
  try {
    const profile = loadProfile(context.root, profileName(options), env);
    const ssh = sshSettings(profile, env, dir);
    const target = withDeployOptions(options, context);
    const model = await loadDeployModel(context.root, app, target, profile, env, secrets);
    let passed = true;
    for (const h of model.hosts) {
      const r = await checkHost(model, h, ssh, secrets, options.minFreeGiB);
      log.info(whereText(h.profile, app));
      for (const line of r.lines) log.info(redact(`  ${line}`, secrets));
      passed &&= r.passed;
    }
    if (!passed) log.error(`${app} on ${profile.name}: the host is not ready (see FIX above).`);
    else log.info(`${app} on ${profile.name}: ready.`);
    return { success: passed };
  } catch (error) {
    log.error(redact(`doctor failed: ${(error as Error).message}`, secrets));
    return { success: false };
  } finally {
    dir.cleanup();
  }
}
