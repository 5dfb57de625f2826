import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseProfile } from '../config/profile';
import { HELPER_COMMANDS, onHost, tunnelCommand } from './host';

describe('the host helper subcommands', () => {
  it('are the ones the helper dispatches, no more and no fewer', () => {
    const cli = readFileSync(join(__dirname, '../../host/conveyor_host/cli.py'), 'utf8');
    const dispatched = new Set<string>();
    for (const m of cli.matchAll(/command (?:==|in) (\([^)]*\)|"[^"]+")/g))
      for (const name of m[1].matchAll(/"([^"]+)"/g)) dispatched.add(name[1]);
    expect([...dispatched].sort()).toEqual(Object.keys(HELPER_COMMANDS).sort());
  });
});

describe('a tunnel to a colour port on the host', () => {
  const profile = parseProfile(
    'staging',
    'config/profiles/staging.yml',
    'registry: r\nregistry_namespace: n\nssh_host: web-1.example.com\nssh_user: deploy\nssh_port: 2222\ndeploy_path: /srv\ncompose_command: docker compose\n',
    {},
  );
  const ssh = { keyFile: '/tmp/k', knownHostsFile: '/tmp/known' };

  it('forwards a loopback port here to the colour port on the host, no command, with the same login and options as every other SSH command', () => {
    const tunnel = tunnelCommand(profile, ssh, 40123, 28001).argv;
    expect(tunnel.slice(0, 6)).toEqual([
      'ssh',
      '-N',
      '-o',
      'ExitOnForwardFailure=yes',
      '-L',
      '127.0.0.1:40123:127.0.0.1:28001',
    ]);
    const command = onHost(profile, ssh, ['true']).argv;
    // The same port, key, options and login, in the same order (OpenSSH keeps the first value).
    expect(tunnel.slice(6)).toEqual(command.slice(1, -1));
    expect(tunnel[tunnel.length - 1]).toBe('deploy@web-1.example.com');
  });
});
