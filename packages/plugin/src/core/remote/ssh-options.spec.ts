import { sshOptions } from './ansible';
import { ANSIBLE_DEFAULT_SSH_ARGS, ansibleEnvironment, ansibleSshArgs } from './ssh-options';

const pinned = { keyFile: '/tmp/c/id_deploy', knownHostsFile: '/tmp/c/known_hosts' };

/** The `-o` values of an ssh_args string, in order (what ssh reads first wins). */
function firstValue(args: string, option: string): string | undefined {
  const words = args.match(/'[^']*'|\S+/g) ?? [];
  for (let i = 0; i < words.length - 1; i++) {
    const value = words[i + 1].replace(/^'|'$/g, '');
    if (words[i] === '-o' && value.startsWith(`${option}=`)) return value.slice(option.length + 1);
  }
  return undefined;
}

describe('sshOptions', () => {
  it('pins the known_hosts file when one is given, else accepts a new host key only', () => {
    expect(sshOptions(pinned)).toEqual([
      'IdentitiesOnly=yes',
      'BatchMode=yes',
      'ConnectTimeout=10',
      'UserKnownHostsFile=/tmp/c/known_hosts',
      'StrictHostKeyChecking=yes',
    ]);
    expect(sshOptions({})).toContain('StrictHostKeyChecking=accept-new');
  });
});

describe('ansibleEnvironment', () => {
  it('turns host key checking on whatever the environment says (ANSIBLE_HOST_KEY_CHECKING=False is common in CI)', () => {
    const env = ansibleEnvironment(
      { ANSIBLE_HOST_KEY_CHECKING: 'False', ANSIBLE_SSH_HOST_KEY_CHECKING: 'no' },
      'ssh',
      pinned,
    );
    expect(env).toMatchObject({
      ANSIBLE_HOST_KEY_CHECKING: 'True',
      ANSIBLE_SSH_HOST_KEY_CHECKING: 'True',
      ANSIBLE_TRANSPORT: 'ssh',
    });
  });

  it("puts Conveyor's ssh options first in ssh_args, before anything Ansible or the caller adds", () => {
    const env = ansibleEnvironment({}, 'ssh', pinned);
    expect(env['ANSIBLE_SSH_ARGS']).toBe(
      '-o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=10 ' +
        '-o UserKnownHostsFile=/tmp/c/known_hosts -o StrictHostKeyChecking=yes ' +
        ANSIBLE_DEFAULT_SSH_ARGS,
    );
  });

  it('keeps the caller ssh_args after them, so they add options but cannot turn the pinned key off', () => {
    const env = ansibleEnvironment(
      {
        ANSIBLE_SSH_ARGS:
          '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ProxyJump=bastion',
      },
      'ssh',
      pinned,
    );
    const args = env['ANSIBLE_SSH_ARGS'];
    expect(firstValue(args, 'StrictHostKeyChecking')).toBe('yes');
    expect(firstValue(args, 'UserKnownHostsFile')).toBe('/tmp/c/known_hosts');
    expect(firstValue(args, 'ProxyJump')).toBe('bastion');
    expect(args).not.toContain(ANSIBLE_DEFAULT_SSH_ARGS);
  });

  it('without a known_hosts file, accept-new still comes first', () => {
    const args = ansibleEnvironment({ ANSIBLE_HOST_KEY_CHECKING: 'False' }, 'ssh', {})[
      'ANSIBLE_SSH_ARGS'
    ];
    expect(firstValue(args, 'StrictHostKeyChecking')).toBe('accept-new');
  });

  it('quotes paths for the shlex split Ansible applies to ssh_args', () => {
    expect(ansibleSshArgs({ knownHostsFile: "/tmp/a b/it's" }, '')).toContain(
      `-o 'UserKnownHostsFile=/tmp/a b/it'"'"'s'`,
    );
  });

  it('an empty ssh_args of the caller (no multiplexing) stays empty after ours', () => {
    expect(ansibleSshArgs({}, '')).toBe(
      '-o IdentitiesOnly=no -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=accept-new',
    );
  });

  it('sets nothing for a local connection', () => {
    expect(ansibleEnvironment({ ANSIBLE_HOST_KEY_CHECKING: 'False' }, 'local', {})).toEqual({});
  });
});
