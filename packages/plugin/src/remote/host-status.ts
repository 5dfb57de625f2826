/** Reads what a host says about an app: the helper's status (one JSON object) or its history. */
import type { SshSettings } from '../core/remote/ansible';
import { helperCommand } from '../core/remote/host';
import type { Profile } from '../core/config/profile';
import type { Secrets } from '../core/config/redact';
import type { HostStatus } from '../core/release/release';
import { run } from '../shell/run';
import { explainSshFailure } from './connection';

/** undefined when the app was never deployed there by this version of the plugin. */
export async function readHostStatus(
  profile: Profile,
  app: string,
  ssh: SshSettings,
  secrets: Secrets,
): Promise<{ status?: HostStatus; code: number }> {
  const r = await run(helperCommand(profile, app, ssh, 'status'), { secrets, stream: false });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (line.startsWith('{')) {
    try {
      return { status: JSON.parse(line) as HostStatus, code: r.code };
    } catch {
      /* fall through */
    }
  }
  const ssh255 = r.code === 255 ? explainSshFailure(r.output, profile) : undefined;
  if (ssh255) throw new Error(ssh255);
  if (r.code === 126 || r.code === 127 || /No such file/.test(r.output)) return { code: r.code };
  throw new Error(
    `Reading the release state on the host failed (exit ${r.code}): ${r.output.trim().slice(-400)}`,
  );
}
