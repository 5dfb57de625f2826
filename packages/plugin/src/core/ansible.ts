/** ansible-playbook command line and extra vars, built from a profile and the deploy options. */
import type { Command } from './engine';
import type { Profile } from './profile';
import { registryHost } from './names';
import { colorPorts } from './strategy';

export type DeployAction = 'deploy' | 'rollback';

export interface SshSettings {
  /** Private key file (a 0600 temp file decoded from SSH_KEY_B64), else the user's agent/keys. */
  keyFile?: string;
  /** known_hosts file built from <ENV>_SSH_KNOWN_HOSTS; without it, accept-new. */
  knownHostsFile?: string;
}

export interface PlaybookInput {
  app: string;
  action: DeployAction;
  /** Empty for a rollback to the previous release. */
  tag: string;
  force: boolean;
  profile: Profile;
  backendPort: number;
  frontendPort?: number;
  healthTimeout: number;
  lockTimeout: number;
  composeSrc: string;
  deployer: string;
  registryLogin: boolean;
  loginCommand: string;
  gitShas: Record<string, string>;
  resultFile: string;
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
  const vars: Record<string, unknown> = {
    conveyor_app: input.app,
    conveyor_action: input.action,
    conveyor_tag: input.tag,
    conveyor_force: input.force,
    conveyor_profile: p.name,
    conveyor_registry: registryHost(p.registry),
    conveyor_registry_namespace: p.registry_namespace,
    conveyor_registry_login: input.registryLogin,
    conveyor_login_command: input.loginCommand,
    conveyor_deploy_path: p.deploy_path,
    conveyor_compose_command: p.compose_command,
    conveyor_compose_src: input.composeSrc,
    conveyor_backend_port: input.backendPort,
    conveyor_frontend_port: input.frontendPort ?? '',
    conveyor_health_timeout: input.healthTimeout,
    conveyor_lock_timeout: input.lockTimeout,
    conveyor_git_shas: input.gitShas,
    conveyor_deployer: input.deployer,
    conveyor_result_file: input.resultFile,
    conveyor_strategy: p.strategy,
    conveyor_drain_seconds: p.drain_seconds,
    conveyor_proxy_image: p.proxy_image,
    conveyor_color_ports: colorPorts(input.backendPort, input.frontendPort),
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

export function deployPath(profile: Profile, app: string): string {
  return `${profile.deploy_path.replace(/\/+$/, '')}/${app}`;
}

/** Quotes one word for a POSIX shell (ssh passes its command through the remote user's shell). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export interface FastRollbackInput {
  profile: Profile;
  app: string;
  deployer: string;
  backendPort: number;
  hasFrontend: boolean;
  /** Empty: the previous release. */
  to: string;
  ssh: SshSettings;
}

/**
 * One command that switches a blue-green app back to its previous colour while that colour still
 * runs (conveyor-rollback.py, installed on the host by the deploy): no Ansible, no pull, no start.
 */
export function fastRollbackCommand(input: FastRollbackInput): Command {
  const { profile, app } = input;
  const appPath = deployPath(profile, app);
  // The deploy installs the helper as an executable run by the host's Ansible interpreter.
  const remote = [
    `${appPath}/.conveyor/conveyor-rollback.py`,
    appPath,
    input.deployer,
    String(profile.drain_seconds),
    profile.compose_command,
    input.hasFrontend ? 'backend,frontend' : 'backend',
    String(input.backendPort),
    ...(input.to ? [input.to] : []),
  ];
  if (profile.connection === 'local') return { argv: remote };
  return {
    argv: [
      'ssh',
      '-p',
      String(profile.ssh_port),
      ...(input.ssh.keyFile ? ['-i', input.ssh.keyFile] : []),
      ...sshOptions(input.ssh).flatMap((o) => ['-o', o]),
      `${profile.ssh_user}@${profile.ssh_host}`,
      remote.map(shellQuote).join(' '),
    ],
  };
}
