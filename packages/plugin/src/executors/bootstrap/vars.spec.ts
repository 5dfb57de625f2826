import type { Profile } from '../../core/config/profile';
import { bootstrapVars, parseRecap, recapSummary } from './vars';

const profile = {
  name: 'staging',
  ssh_host: '203.0.113.7',
  ssh_user: 'deploy',
  ssh_port: 22,
  deploy_path: '/srv/apps',
} as Profile;

describe('bootstrap vars', () => {
  it("connects as the admin user and makes the profile's ssh_user the deploy user", () => {
    const v = bootstrapVars({
      profile,
      adminUser: 'root',
      engine: 'docker',
      ciPublicKey: 'ssh-ed25519 AAAA ci\n',
      ports: [8081, 8080, 8080],
      adminSsh: { keyFile: '/tmp/k' },
      deployKeyFile: '/tmp/ci',
    });
    expect(v).toMatchObject({
      conveyor_ssh_user: 'root',
      conveyor_deploy_user: 'deploy',
      conveyor_public_ports: [8080, 8081],
      conveyor_ci_public_key: 'ssh-ed25519 AAAA ci',
      ansible_ssh_private_key_file: '/tmp/k',
    });
    expect(v['ansible_ssh_common_args']).toContain('IdentitiesOnly=yes');
  });

  it("opens the edge's HTTP and HTTPS ports when the profile gives the app a domain", () => {
    const input = {
      adminUser: 'root',
      engine: 'docker' as const,
      ciPublicKey: 'k',
      ports: [8080, 8081],
      adminSsh: {},
      deployKeyFile: '/tmp/ci',
    };
    const edge = { edge_http_port: 80, edge_https_port: 443 };
    const withDomain = { ...profile, ...edge, domain: 'shop.example.com', tls: 'acme' } as Profile;
    expect(bootstrapVars({ ...input, profile: withDomain })['conveyor_public_ports']).toEqual([
      80, 443, 8080, 8081,
    ]);
    const off = { ...withDomain, tls: 'off' } as Profile;
    expect(bootstrapVars({ ...input, profile: off })['conveyor_public_ports']).toEqual([
      8080, 8081,
    ]);
  });
});

describe('recap', () => {
  const recap = (changed: number) =>
    `PLAY RECAP *********\nweb-1 : ok=20   changed=${changed}    unreachable=0    failed=0    skipped=2\n`;
  it('says so when nothing changed', () => {
    expect(parseRecap(recap(0))).toEqual([{ host: 'web-1', changed: 0, failed: false }]);
    expect(recapSummary(recap(0), false)).toBe('Nothing changed: every host was already ready.');
    expect(recapSummary(recap(3), true)).toBe('Would change web-1 (3 tasks).');
  });
});
