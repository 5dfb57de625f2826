/**
 * The environment ansible-playbook runs with, so that Conveyor's SSH options (host-key policy,
 * key, batch mode) are the ones ssh applies, whatever the caller's environment says.
 *
 * OpenSSH keeps the first value it reads for an option. Ansible's ssh connection plugin (2.14)
 * builds its command line in this order: `ssh_args` (ANSIBLE_SSH_ARGS, default
 * `-C -o ControlMaster=auto -o ControlPersist=60s`), then `-o StrictHostKeyChecking=no` when
 * host_key_checking is false (ANSIBLE_HOST_KEY_CHECKING / ANSIBLE_SSH_HOST_KEY_CHECKING=False,
 * common in CI), then port, key, user and timeout, then `ssh_common_args` (where Conveyor's
 * extra vars put its options), then `ssh_extra_args`. Left alone, either of the first two wins
 * over Conveyor's options and a pinned known_hosts file is silently ignored.
 */
import type { Connection } from '../config/profile';
import { sshOptions, SshSettings } from './ansible';

/** Ansible's own default for ssh_args (connection multiplexing); kept after Conveyor's options. */
export const ANSIBLE_DEFAULT_SSH_ARGS = '-C -o ControlMaster=auto -o ControlPersist=60s';

/** Quotes one word for the shlex split Ansible applies to ssh_args. */
function shlexQuote(word: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'"'"'`)}'`;
}

/** Conveyor's options first, then the caller's ssh_args (or Ansible's default), which add to them but never override. */
export function ansibleSshArgs(ssh: SshSettings, callerSshArgs: string | undefined): string {
  const ours = sshOptions(ssh)
    .map((o) => `-o ${shlexQuote(o)}`)
    .join(' ');
  const rest = callerSshArgs === undefined ? ANSIBLE_DEFAULT_SSH_ARGS : callerSshArgs.trim();
  return rest ? `${ours} ${rest}` : ours;
}

/**
 * Variables to set over `base` when ansible-playbook runs (spread them after base):
 * - ANSIBLE_SSH_ARGS: Conveyor's ssh options first, then what base had (or Ansible's default);
 * - ANSIBLE_HOST_KEY_CHECKING and ANSIBLE_SSH_HOST_KEY_CHECKING: True, so Ansible adds no
 *   `StrictHostKeyChecking=no` of its own;
 * - ANSIBLE_TRANSPORT: ssh (paramiko would ignore the options and the known_hosts file).
 * A local connection opens no SSH session: nothing to set.
 */
export function ansibleEnvironment(
  base: NodeJS.ProcessEnv,
  connection: Connection,
  ssh: SshSettings,
): Record<string, string> {
  if (connection !== 'ssh') return {};
  return {
    ANSIBLE_SSH_ARGS: ansibleSshArgs(ssh, base['ANSIBLE_SSH_ARGS']),
    ANSIBLE_HOST_KEY_CHECKING: 'True',
    ANSIBLE_SSH_HOST_KEY_CHECKING: 'True',
    ANSIBLE_TRANSPORT: 'ssh',
  };
}
