import type { ExecutorContext } from '@nx/devkit';
import { profileName } from '../../core/release/deploy-model';
import { loadProfile } from '../../core/config/profile';
import { formatHistoryEntry } from '../../core/release/release';
import { sshSettings, whereText } from '../../remote/connection';
import { readHistory } from '../../remote/helper';
import { hostProfiles } from '../../remote/inventory';
import { conveyorExecutor } from '../../remote/executor';
import type { HistoryExecutorSchema } from './schema';

/** The host's release history: deploys, rollbacks, failures, repairs and lock breaks. */
export default async function history(options: HistoryExecutorSchema, context: ExecutorContext) {
  return conveyorExecutor('history', context, async ({ app, root, env, secrets, dir, say }) => {
    const profile = loadProfile(root, profileName(options), env);
    const ssh = sshSettings(profile, env, dir);
    const limit = options.limit ?? 20;
    for (const p of await hostProfiles(root, options.ansibleDir, profile, env, secrets)) {
      const entries = await readHistory({ profile: p, app, ssh, secrets }, limit);
      if (!entries) {
        say(`${whereText(p, app)}: nothing deployed (by this version of Conveyor).`);
        continue;
      }
      say(`${whereText(p, app)}: last ${entries.length} events`);
      for (const e of entries) say(options.json ? JSON.stringify(e) : formatHistoryEntry(e));
    }
    return true;
  });
}
