/** The releases of an app that run on a host from a folder that is gone (abandoned deploy_paths). */
import type { SshSettings } from '../../core/ansible';
import {
  abandonedReleases,
  abandonedScript,
  appProjects,
  parseDoctorOutput,
} from '../../core/doctor';
import { onHost } from '../../core/host';
import type { Profile } from '../../core/profile';
import type { Secrets } from '../../core/redact';
import { run } from '../../shell/run';

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
