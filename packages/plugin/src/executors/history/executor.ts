import { profileName } from '../../core/deploy-model';
import type { ExecutorContext } from '@nx/devkit';
import { helperCommand } from '../../core/host';
import { loadProfile } from '../../core/profile';
import { redact, secretValues } from '../../core/redact';
import { formatHistoryEntry, parseHistory } from '../../core/release';
import { log } from '../../shell/log';
import { run } from '../../shell/run';
import { PrivateDir } from '../../shell/temp';
import { explainSshFailure, sshSettings, whereText } from '../deploy/lib/connection';
import { hostProfiles } from '../deploy/lib/inventory';
import type { HistoryExecutorSchema } from './schema';

/** The host's release history: deploys, rollbacks, failures, repairs and lock breaks. */
export default async function history(options: HistoryExecutorSchema, context: ExecutorContext) {
  const env = process.env;
  const secrets = secretValues(env);
  const dir = new PrivateDir('conveyor-history-');
  const app = context.projectName as string;
  try {
    const profile = loadProfile(context.root, profileName(options), env);
    const ssh = sshSettings(profile, env, dir);
    const limit = String(options.limit ?? 20);
    const hosts = await hostProfiles(context.root, options.ansibleDir, profile, env, secrets);
    for (const p of hosts) {
      const r = await run(helperCommand(p, app, ssh, 'history', [limit]), {
        secrets,
        stream: false,
      });
      if (r.code !== 0) {
        if (/No such file/.test(r.output)) {
          log.info(`${whereText(p, app)}: nothing deployed (by this version of Conveyor).`);
          continue;
        }
        throw new Error(explainSshFailure(r.output, p) ?? r.output.trim().slice(-400));
      }
      const entries = parseHistory(r.stdout);
      log.info(`${whereText(p, app)}: last ${entries.length} events`);
      for (const e of entries)
        log.info(redact(options.json ? JSON.stringify(e) : formatHistoryEntry(e), secrets));
    }
    return { success: true };
  } catch (error) {
    log.error(redact(`history failed: ${(error as Error).message}`, secrets));
    return { success: false };
  } finally {
    dir.cleanup();
  }
}
