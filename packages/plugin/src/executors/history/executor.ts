import type { ExecutorContext } from '@nx/devkit';
import { profileName } from '../../core/release/deploy-model';
import { helperCommand } from '../../core/remote/host';
import { loadProfile } from '../../core/config/profile';
import { formatHistoryEntry, parseHistory } from '../../core/release/release';
import { run } from '../../shell/run';
import { explainSshFailure, sshSettings, whereText } from '../../remote/connection';
import { hostProfiles } from '../../remote/inventory';
import { conveyorExecutor } from '../../remote/executor';
import type { HistoryExecutorSchema } from './schema';

/** The host's release history: deploys, rollbacks, failures, repairs and lock breaks. */
export default async function history(options: HistoryExecutorSchema, context: ExecutorContext) {
  return conveyorExecutor('history', context, async ({ app, root, env, secrets, dir, say }) => {
    const profile = loadProfile(root, profileName(options), env);
    const ssh = sshSettings(profile, env, dir);
    const limit = String(options.limit ?? 20);
    for (const p of await hostProfiles(root, options.ansibleDir, profile, env, secrets)) {
      const r = await run(helperCommand(p, app, ssh, 'history', [limit]), {
        secrets,
        stream: false,
      });
      if (r.code !== 0) {
        if (/No such file/.test(r.output)) {
          say(`${whereText(p, app)}: nothing deployed (by this version of Conveyor).`);
          continue;
        }
        throw new Error(explainSshFailure(r.output, p) ?? r.output.trim().slice(-400));
      }
      const entries = parseHistory(r.stdout);
      say(`${whereText(p, app)}: last ${entries.length} events`);
      for (const e of entries) say(options.json ? JSON.stringify(e) : formatHistoryEntry(e));
    }
    return true;
  });
}
