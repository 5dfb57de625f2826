import type { ExecutorContext } from '@nx/devkit';
import { profileName } from '../../core/release/deploy-model';
import { loadProfile } from '../../core/config/profile';
import { edgePlan, edgeUrl } from '../../core/edge/edge';
import { sshSettings } from '../../remote/connection';
import { askHelper } from '../../remote/helper';
import { hostProfiles } from '../../remote/inventory';
import { conveyorExecutor } from '../../remote/executor';
import type { MaintenanceExecutorSchema } from './schema';

/** The edge answers the app's domain with a maintenance page (503, Retry-After), or not, per host. */
export default async function maintenance(
  options: MaintenanceExecutorSchema,
  context: ExecutorContext,
) {
  return conveyorExecutor('maintenance', context, async ({ app, root, env, secrets, dir, say }) => {
    if (Boolean(options.on) === Boolean(options.off))
      throw new Error('give --on or --off (one of them).');
    const profile = loadProfile(root, profileName(options), env);
    const ssh = sshSettings(profile, env, dir);
    for (const p of await hostProfiles(root, options.ansibleDir, profile, env, secrets)) {
      const edge = edgePlan(app, p, { backend: 0 }, { healthPath: '/', versionCheck: false });
      if (!edge)
        throw new Error(
          `${profile.file} sets no domain (or tls: off): the app has no name on the edge to put in maintenance.`,
        );
      const spec = { edge, engine_command: 'docker', compose_command: p.compose_command };
      const a = await askHelper(
        { profile: p, app, ssh, secrets },
        'maintenance',
        ['-', options.on ? 'on' : 'off'],
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
