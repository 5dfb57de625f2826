import type { ExecutorContext } from '@nx/devkit';
import { profileName } from '../../core/release/deploy-model';
import { loadProfile } from '../../core/config/profile';
import { edgePlan, edgeUrl } from '../../core/edge/edge';
import { sshSettings } from '../../remote/connection';
import { askHelper } from '../../remote/helper';
import { loadDeployModel } from '../../remote/inventory';
import { conveyorExecutor } from '../../remote/executor';
import { withDeployOptions } from '../deploy-target';
import type { MaintenanceExecutorSchema } from './schema';

/**
 * The edge answers the app's domain with a maintenance page (503, Retry-After), or not, on every
 * host of the deploy target (its domain: the target's, else the profile's).
 */
export default async function maintenance(
  own: MaintenanceExecutorSchema,
  context: ExecutorContext,
) {
  return conveyorExecutor('maintenance', context, async ({ app, root, env, secrets, dir, say }) => {
    if (Boolean(own.on) === Boolean(own.off)) throw new Error('give --on or --off (one of them).');
    const options = withDeployOptions(own, context);
    const profile = loadProfile(root, profileName(options), env);
    const model = await loadDeployModel(root, app, options, profile, env, secrets);
    const ssh = sshSettings(profile, env, dir);
    for (const h of model.hosts) {
      const edge = edgePlan(app, h.profile, h.ports, { healthPath: '/', versionCheck: false });
      if (!edge)
        throw new Error(
          `${app} has no domain on ${profile.name} (the deploy target's domain or the profile's; or tls: off): nothing to put in maintenance.`,
        );
      const spec = {
        edge,
        engine_command: model.engineCommand,
        compose_command: h.profile.compose_command,
      };
      const a = await askHelper(
        { profile: h.profile, app, ssh, secrets },
        'maintenance',
        ['-', own.on ? 'on' : 'off'],
        JSON.stringify(spec),
      );
      if (a.result?.status !== 'ok')
        throw new Error(
          `${edgeUrl(edge)}: ${String(a.result?.['error'] ?? a.output.trim().slice(-300))}`,
        );
      say(String(a.result['message']));
    }
    return true;
  });
}
