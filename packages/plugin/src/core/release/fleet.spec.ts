import { batches, batchSizes, fleetHosts, hostPorts } from './fleet';
import type { Profile } from '../config/profile';

const staging: Profile = {
  name: 'staging',
  file: 'config/profiles/staging.yml',
  registry: 'reg.example.com',
  registry_namespace: 'acme',
  connection: 'ssh',
  ssh_host: 'staging.example.com',
  ssh_user: 'deploy',
  ssh_port: 2222,
  deploy_path: '/opt/conveyor/',
  compose_command: 'docker compose',
  strategy: 'blue-green',
  drain_seconds: 5,
  proxy_image: 'haproxy:2.8-alpine',
  rollout_batches: '100%',
  rollout_wait: 0,
  canary_steps: [10, 50, 100],
  canary_pause: 30,
  canary_max_error_ratio: 0.05,
  canary_max_p99: 1,
  canary_window: 60,
  tls: 'off',
  acme_email: '',
  acme_ca: '',
  edge_path: '/srv/conveyor-edge',
  edge_image: 'caddy:2',
  edge_http_port: 80,
  edge_https_port: 443,
  preview_ttl: 604800,
  edge_name: 'conveyor-edge',
  acme_renewal_window: 0.33,
  preview_ports: { first: 30000, last: 30999 },
  database: 'service',
  database_image: 'postgres:17',
  database_backups_keep: 7,
};

describe('rollout batches', () => {
  it('turns counts and percentages into cumulative batch sizes that end with every host', () => {
    expect(batchSizes(8, '1, 25%, 100%')).toEqual([1, 2, 8]);
    expect(batchSizes(3, '1,50%')).toEqual([1, 2, 3]);
    expect(batchSizes(3, '100%')).toEqual([3]);
    expect(batchSizes(1, '1, 25%, 100%')).toEqual([1]);
    expect(batchSizes(4, '10, 2')).toEqual([4]);
  });
  it('splits hosts in inventory order', () => {
    expect(batches(['a', 'b', 'c', 'd'], '1,50%')).toEqual([['a'], ['b'], ['c', 'd']]);
  });
  it('refuses what is not a count or a percentage', () => {
    expect(() => batchSizes(3, '1, half')).toThrow('"half" is not a host count or a percentage');
  });
});

describe('fleet hosts from the inventory', () => {
  const inventory = {
    _meta: {
      hostvars: {
        'staging-1': {
          ansible_host: '{{ conveyor_ssh_host }}',
          ansible_port: '{{ conveyor_ssh_port }}',
        },
        'staging-2': {
          ansible_host: '10.0.0.2',
          conveyor_deploy_path: '/srv/b',
          conveyor_backend_port: 9080,
        },
      },
    },
    app: { hosts: ['staging-1', 'staging-2'] },
  };
  it('takes what a host sets, and the profile for the rest', () => {
    const hosts = fleetHosts(inventory, 'app', staging, { backendPort: 8080, frontendPort: 5173 });
    expect(
      hosts.map((h) => [
        h.name,
        h.profile.ssh_host,
        h.profile.ssh_port,
        h.profile.deploy_path,
        h.backendPort,
        h.frontendPort,
      ]),
    ).toEqual([
      ['staging-1', 'staging.example.com', 2222, '/opt/conveyor/', 8080, 5173],
      ['staging-2', '10.0.0.2', 2222, '/srv/b', 9080, 5173],
    ]);
  });
  it('names a bad port and an empty group', () => {
    const bad = { ...inventory, _meta: { hostvars: { 'staging-1': { ansible_port: 'x' } } } };
    expect(() => fleetHosts(bad, 'app', staging, { backendPort: 1 })).toThrow(
      'the inventory: host staging-1: ansible_port must be a port number (an integer from 1 to 65535), got "x".',
    );
    expect(() => fleetHosts({}, 'app', staging, { backendPort: 1 })).toThrow(
      'no host in group [app]',
    );
  });
  it('takes every host of an inventory without that group (the monitoring stack lists [monitoring])', () => {
    const hosts = fleetHosts(
      { monitoring: { hosts: ['mon-1'] }, all: { children: ['monitoring'] } },
      'app',
      staging,
      {
        backendPort: 9090,
      },
    );
    expect(hosts.map((h) => h.name)).toEqual(['mon-1']);
  });
});

describe('what an inventory host may set', () => {
  const FILE = 'apps/shop/infra/ansible/inventory/staging';
  const one = (vars: Record<string, unknown>) => ({
    app: { hosts: ['staging-1'] },
    _meta: { hostvars: { 'staging-1': vars } },
  });
  const hosts = (vars: Record<string, unknown>) =>
    fleetHosts(one(vars), 'app', staging, { backendPort: 8080, frontendPort: 5173 }, FILE);

  it.each([0, -1, 70000, 80.5, '80.5', '0x50'])(
    'refuses the port %p, naming the file, the host and the value',
    (value) => {
      for (const key of ['conveyor_backend_port', 'conveyor_frontend_port', 'ansible_port'])
        expect(() => hosts({ [key]: value })).toThrow(
          `${FILE}: host staging-1: ${key} must be a port number (an integer from 1 to 65535), got "${value}".`,
        );
    },
  );

  it.each(['evil host', 'a;reboot', '$(id)', 'h`id`', '-oProxyCommand=sh', 'h|x', "h'x", 'h\nx'])(
    'refuses the ansible_host %j, naming the file, the host and the value',
    (value) => {
      expect(() => hosts({ ansible_host: value })).toThrow(
        `${FILE}: host staging-1: ansible_host is "${value}": `,
      );
    },
  );

  it.each(['root; reboot', '-l', 'de ploy', 'deploy@x', '$(id)', '.hidden', 'a'.repeat(65)])(
    'refuses the ansible_user %p, naming the file, the host and the value',
    (value) => {
      expect(() => hosts({ ansible_user: value })).toThrow(
        `${FILE}: host staging-1: ansible_user is "${value}": `,
      );
    },
  );

  it('takes host names, IP addresses and POSIX user names', () => {
    for (const host of ['web-1.example.com', '10.0.0.5', 'fe80::1', 'fe80::1%eth0', 'web_1'])
      expect(hosts({ ansible_host: host })[0].profile.ssh_host).toBe(host);
    for (const user of ['deploy', 'svc_deploy', 'deploy-1', '_ci', 'u.x'])
      expect(hosts({ ansible_user: user })[0].profile.ssh_user).toBe(user);
  });

  it("takes a host's own edge (hosts that share one machine) and holds it to the profile's rules", () => {
    const [h] = hosts({
      conveyor_edge_name: 'edge-2',
      conveyor_edge_path: '/srv/edge-2',
      conveyor_edge_http_port: 8082,
      conveyor_edge_https_port: '8445',
    });
    expect([
      h.profile.edge_name,
      h.profile.edge_path,
      h.profile.edge_http_port,
      h.profile.edge_https_port,
    ]).toEqual(['edge-2', '/srv/edge-2', 8082, 8445]);
    expect(hosts({})[0].profile.edge_name).toBe('conveyor-edge');
    expect(() => hosts({ conveyor_edge_name: 'Edge 2' })).toThrow(
      `${FILE}: host staging-1: conveyor_edge_name is "Edge 2": a container name`,
    );
    expect(() => hosts({ conveyor_edge_path: 'edge' })).toThrow(
      `${FILE}: host staging-1: conveyor_edge_path must be an absolute path, got "edge".`,
    );
    expect(() => hosts({ conveyor_edge_https_port: 0 })).toThrow(
      `${FILE}: host staging-1: conveyor_edge_https_port must be a port number`,
    );
  });

  it('names the file in the port rule of the monitoring targets too', () => {
    expect(() =>
      hostPorts({ conveyor_backend_port: 70000 }, 'staging-1', { backendPort: 8080 }, FILE),
    ).toThrow(`${FILE}: host staging-1: conveyor_backend_port must be a port number`);
  });
});
