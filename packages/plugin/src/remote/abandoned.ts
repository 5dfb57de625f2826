/** The releases of an app that run on a host from a folder that is gone (abandoned deploy_paths). */
import type { SshSettings } from '../core/remote/ansible';
import {
  abandonedReleases,
  abandonedScript,
  appProjects,
  parseDoctorOutput,
} from '../core/remote/doctor';
import { onHost } from '../core/remote/host';
import type { Profile } from '../core/config/profile';
import type { Secrets } from '../core/config/redact';
import { run } from '../shell/run';

export async function findAbandoned(
  profile: Profile,
  app: string,
  ssh: SshSettings,
  secrets: Secrets,
): Promise<{ project: string; folder: string }[]> {
  const script = abandonedScript(appProjects(`${app}-${profile.name}`, app));
  const r = await run(onHost(profile, ssh, ['sh', '-s'], script), { secrets, stream: false });
  return abandonedReleases(parseDoctorOutput(r.stdout));
}
