import type { ExecutorContext } from '@nx/devkit';
import { loadProfile } from '../../core/profile';
import { redact, secretValues } from '../../core/redact';
import { formatStatus } from '../../core/release';
import { log } from '../../shell/log';
import { PrivateDir } from '../../shell/temp';
import { sshSettings, whereText } from '../deploy/lib/connection';
import { readHostStatus } from '../deploy/lib/host-status';
import type { StatusExecutorSchema } from './schema';

/** Per host: the live release and colour, where the proxy routes, the lock, the last events. */
export default async function status(options: StatusExecutorSchema, context: ExecutorContext) {
  const env = process.env;
  const secrets = secretValues(env);
  const dir = new PrivateDir('conveyor-status-');
  const app = context.projectName as string;
  try {
    const profile = loadProfile(context.root, options.profile ?? 'local', env);
    const where = whereText(profile, app);
    const { status: s } = await readHostStatus(
      profile,
      app,
      sshSettings(profile, env, dir),
      secrets,
    );
    if (!s) {
      log.info(`${where}\n  nothing deployed (by this version of Conveyor)`);
      return { success: true };
    }
    if (options.json) process.stdout.write(JSON.stringify(s) + '\n');
    else for (const line of formatStatus(where, s)) log.info(redact(line, secrets));
    if (!s.agree)
      log.error(`${app} on ${profile.name}: the state and the proxy disagree (see PROBLEM above).`);
    return { success: s.agree };
  } catch (error) {
    log.error(redact(`status failed: ${(error as Error).message}`, secrets));
    return { success: false };
  } finally {
    dir.cleanup();
  }
}
