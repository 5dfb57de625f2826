import type { ExecutorContext } from '@nx/devkit';
import { profileName } from '../../core/release/deploy-model';
import { loadProfile } from '../../core/config/profile';
import { log } from '../../shell/log';
import { withDeployOptions } from '../deploy-target';
import { sshSettings, whereText } from '../../remote/connection';
import { loadDeployModel } from '../../remote/inventory';
import { conveyorExecutor } from '../../remote/executor';
import { checkHost } from '../../remote/check-host';
import type { DoctorExecutorSchema } from './schema';

/** Checks that each host is ready for the app and prints, per check, ok or what to fix. */
export default async function doctor(options: DoctorExecutorSchema, context: ExecutorContext) {
  return conveyorExecutor('doctor', context, async ({ app, root, env, secrets, dir, say }) => {
    const profile = loadProfile(root, profileName(options), env);
    const ssh = sshSettings(profile, env, dir);
    const target = withDeployOptions(options, context);
    const model = await loadDeployModel(root, app, target, profile, env, secrets);
    let passed = true;
    for (const h of model.hosts) {
      const r = await checkHost(model, h, ssh, secrets, options.minFreeGiB);
      say(whereText(h.profile, app));
      for (const line of r.lines) say(`  ${line}`);
      passed &&= r.passed;
    }
    if (!passed) log.error(`${app} on ${profile.name}: the host is not ready (see FIX above).`);
    else say(`${app} on ${profile.name}: ready.`);
    return passed;
  });
}
