/** ansible-playbook command line and extra vars, built from a profile and the deploy options. */
import type { Command } from '../image/engine';
import type { Profile } from '../config/profile';

export type DeployAction = 'deploy' | 'rollback';

export interface SshSettings {
  /** Private key file (a 0600 temp file decoded from SSH_KEY_B64), else the user's agent/keys. */
  keyFile?: string;
  /** known_hosts file built from <ENV>_SSH_KNOWN_HOSTS; without it, accept-new. */
  knownHostsFile?: string;
}

/** What the playbook moves to one host: its plan, where it goes, where the helper's report comes back. */
export interface PlaybookHost {
  appPath: string;
  /** The plan file on this machine, and where the playbook puts it on the host. */
  planFile: string;
  hostPlan: string;
  /** Where the compose file goes on the host. */
  hostCompose: string;
  /** The helper's report, written back on this machine. */
  resultFile: string;
}

export interface PlaybookInput {
  app: string;
  profile: Profile;
  /** Per inventory host: each carries out its own plan. */
  hosts: Record<string, PlaybookHost>;
  composeSrc: string;
  /** The host helper shipped with the plugin. */
  hostHelper: string;
  ssh: SshSettings;
}

/** OpenSSH options (`-o` values): host keys are checked against the given file, or accepted on first use only. */
export function sshOptions(ssh: SshSettings): string[] {
  const options = [
    'IdentitiesOnly=' + (ssh.keyFile ? 'yes' : 'no'),
    'BatchMode=yes',
    'ConnectTimeout=10',
  ];
  if (ssh.knownHostsFile)
    options.push(`UserKnownHostsFile=${ssh.knownHostsFile}`, 'StrictHostKeyChecking=yes');
  else options.push('StrictHostKeyChecking=accept-new');
  return options;
}

/** The same options as one string, for Ansible's `ansible_ssh_common_args`. */
export function sshCommonArgs(ssh: SshSettings): string {
  return sshOptions(ssh)
    .map((o) => `-o ${o}`)
    .join(' ');
}

export function extraVars(input: PlaybookInput): Record<string, unknown> {
  const p = input.profile;
  const hosts: Record<string, Record<string, string>> = {};
  for (const [name, h] of Object.entries(input.hosts)) {
    hosts[name] = {
      app_path: h.appPath,
      plan_file: h.planFile,
      host_plan: h.hostPlan,
      host_compose: h.hostCompose,
      result_file: h.resultFile,
    };
  }
  const vars: Record<string, unknown> = {
    conveyor_app: input.app,
    conveyor_hosts: hosts,
    conveyor_host_helper: input.hostHelper,
    conveyor_compose_src: input.composeSrc,
  };
  if (p.connection === 'ssh') {
    vars['conveyor_ssh_host'] = p.ssh_host;
    vars['conveyor_ssh_user'] = p.ssh_user;
    vars['conveyor_ssh_port'] = p.ssh_port;
    vars['ansible_ssh_common_args'] = sshCommonArgs(input.ssh);
    if (input.ssh.keyFile) vars['ansible_ssh_private_key_file'] = input.ssh.keyFile;
  }
  return vars;
}

export function inventoryFor(profile: string): string {
  return `inventory/${profile}`;
}

/** Secrets never appear here: extra vars go in a 0600 file, registry credentials in the environment. */
export function playbookCommand(profile: string, varsFile: string): Command {
  return {
    argv: ['ansible-playbook', '-i', inventoryFor(profile), 'playbook.yml', '-e', `@${varsFile}`],
  };
}
