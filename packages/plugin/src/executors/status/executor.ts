import type { ExecutorContext } from '@nx/devkit';
import { profileName } from '../../core/release/deploy-model';
import { abandonedAdvice } from '../../core/remote/doctor';
import { loadProfile } from '../../core/config/profile';
import { formatStatus } from '../../core/release/release';
import { log } from '../../shell/log';
import { sshSettings, whereText } from '../../remote/connection';
import { readHostStatus } from '../../remote/helper';
import { hostProfiles } from '../../remote/inventory';
import { conveyorExecutor } from '../../remote/executor';
import { findAbandoned } from '../../remote/abandoned';
import { listPreviews } from '../../remote/previews';
import { formatPreviews } from '../../core/release/preview';
import type { StatusExecutorSchema } from './schema';

/** Per host: the live release and colour, where the proxy routes, the lock, the last events. */
export default async function status(options: StatusExecutorSchema, context: ExecutorContext) {
  return conveyorExecutor('status', context, async ({ app, root, env, secrets, dir, say }) => {
    const profile = loadProfile(root, profileName(options), env);
    const ssh = sshSettings(profile, env, dir);
    const hosts = await hostProfiles(root, options.ansibleDir, profile, env, secrets);
    let agree = true;
    const all: unknown[] = [];
    for (const p of hosts) {
      const where = whereText(p, app);
      const { status: s } = await readHostStatus({ profile: p, app, ssh, secrets });
      const abandoned = await findAbandoned(p, app, ssh, secrets);
      const previews = p.preview_domain
        ? await listPreviews({ profile: p, app, ssh, secrets })
        : [];
      const warn = [
        ...(abandoned.length
          ? [`  ABANDONED: ${abandonedAdvice(abandoned, app, profile.name)}`]
          : []),
        ...formatPreviews(previews, p, new Date()),
      ];
      if (!s) {
        if (options.json) {
          if (abandoned.length || previews.length)
            all.push({ where, current: null, abandoned, previews });
        } else say([where, '  nothing deployed here', ...warn].join('\n'));
        continue;
      }
      all.push({ where, ...s, abandoned, previews });
      if (!options.json) for (const line of [...formatStatus(where, s), ...warn]) say(line);
      agree &&= s.agree;
    }
    if (options.json)
      process.stdout.write(JSON.stringify(hosts.length === 1 ? (all[0] ?? null) : all) + '\n');
    if (!agree)
      log.error(`${app} on ${profile.name}: the state and the proxy disagree (see PROBLEM above).`);
    return agree;
  });
}
