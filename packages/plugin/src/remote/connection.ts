/** How the executors reach a profile's host: SSH settings from the environment, who deploys. */
import { hostname, userInfo } from 'node:os';
import type { SshSettings } from '../core/remote/ansible';
import { appPath, SECRET_ENV, sshVars } from '../core/config/names';
import type { Profile } from '../core/config/profile';
import { log } from '../shell/log';
import type { PrivateDir } from '../shell/temp';

export function sshSettings(
  profile: Profile,
  env: NodeJS.ProcessEnv,
  dir: PrivateDir,
): SshSettings {
  if (profile.connection !== 'ssh') return {};
  const ssh: SshSettings = {};
  const key = env[SECRET_ENV.sshKeyB64];
  if (key) {
    const decoded = Buffer.from(key, 'base64').toString('utf8');
    if (!decoded.includes('PRIVATE KEY'))
      throw new Error(
        `${SECRET_ENV.sshKeyB64} does not decode to a private key (base64 -w0 of the key file).`,
      );
    ssh.keyFile = dir.write('id_deploy', decoded.endsWith('\n') ? decoded : `${decoded}\n`);
  }
  const known = env[sshVars(profile.name).knownHosts];
  if (known)
    ssh.knownHostsFile = dir.write('known_hosts', known.endsWith('\n') ? known : `${known}\n`);
  else {
    log.warn(
      `${sshVars(profile.name).knownHosts} is not set: the host key of ${profile.ssh_host} is accepted on first use ` +
        '(StrictHostKeyChecking=accept-new) and checked after that. Set it to pin the key.',
    );
  }
  return ssh;
}

export function deployer(env: NodeJS.ProcessEnv): string {
  if (env['CONVEYOR_DEPLOYER']) return env['CONVEYOR_DEPLOYER'];
  if (env['GITHUB_ACTOR']) return `${env['GITHUB_ACTOR']} (GitHub Actions)`;
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return `${user}@${hostname()}`;
}

/** user@host:port:/path, for messages. */
export function whereText(profile: Profile, app: string): string {
  const target =
    profile.connection === 'local'
      ? 'this machine (local connection)'
      : `${profile.ssh_user}@${profile.ssh_host}:${profile.ssh_port}`;
  return `${target}:${appPath(profile, app)}`;
}

export function explainSshFailure(output: string, profile: Profile): string | undefined {
  if (/Permission denied|publickey/i.test(output)) {
    return `SSH login to ${profile.ssh_user}@${profile.ssh_host}:${profile.ssh_port} was refused (check the user and ${SECRET_ENV.sshKeyB64}).`;
  }
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(output)) {
    return `The host key of ${profile.ssh_host} does not match ${sshVars(profile.name).knownHosts}.`;
  }
  if (
    /UNREACHABLE!|Connection refused|Could not resolve|timed out|Connection closed/i.test(output)
  ) {
    return `Host ${profile.ssh_host}:${profile.ssh_port} is unreachable over SSH (check ${sshVars(profile.name).host} and ${sshVars(profile.name).port}).`;
  }
  return undefined;
}
