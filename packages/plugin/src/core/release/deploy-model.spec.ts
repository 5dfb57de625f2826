import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  appPorts,
  DEPLOY_DEFAULTS,
  deployModel,
  profileName,
  publishedPorts,
  strategyOf,
  withDomain,
} from './deploy-model';
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

const inventory = (hostvars: Record<string, Record<string, unknown>>) => ({
  app: { hosts: Object.keys(hostvars) },
  _meta: { hostvars },
});

describe('the deploy model', () => {
  it('applies each default once, from one table that the schema documents with the same values', () => {
    const m = deployModel({
      app: 'shop',
      options: { backendPort: 8080 },
      profile: staging,
      env: {},
    });
    expect(m).toMatchObject({
      healthTimeout: 60,
      lockTimeout: 120,
      engineCommand: 'docker',
      healthPath: '/health',
      versionCheck: true,
      checks: [],
      composeEnv: {},
    });
    expect(profileName({})).toBe('local');
    expect(profileName({ profile: 'staging' })).toBe('staging');
    const schema = JSON.parse(
      readFileSync(join(__dirname, '../../executors/deploy/schema.json'), 'utf8'),
    ) as { properties: Record<string, { default?: unknown }> };
    for (const [option, value] of Object.entries(DEPLOY_DEFAULTS))
      expect([option, schema.properties[option]?.default]).toEqual([option, value]);
  });

  it('takes the options over the defaults', () => {
    const m = deployModel({
      app: 'prometheus',
      options: {
        backendPort: 9090,
        healthTimeout: 5,
        lockTimeout: 7,
        loginCommand: 'podman',
        healthPath: '/-/ready',
        versionCheck: false,
        readyChecks: [{ port: 9093, path: '/-/ready', env: 'ALERTMANAGER_PORT' }],
        composeEnv: ['RETENTION', 'UNSET'],
      },
      profile: staging,
      env: { RETENTION: '15d', ALERTMANAGER_PORT: '9193' },
    });
    expect(m).toMatchObject({
      healthTimeout: 5,
      lockTimeout: 7,
      engineCommand: 'podman',
      healthPath: '/-/ready',
      versionCheck: false,
      // A ready check's port comes from its variable when that is set.
      checks: [{ port: 9193, path: '/-/ready' }],
      composeEnv: { RETENTION: '15d' },
    });
  });

  it('takes BACKEND_PORT and FRONTEND_PORT over the options, and checks the pair once', () => {
    expect(appPorts({ backendPort: 8080, frontendPort: 5173 }, {})).toEqual({
      backend: 8080,
      frontend: 5173,
    });
    expect(
      appPorts(
        { backendPort: 8080, frontendPort: 5173 },
        { BACKEND_PORT: '18080', FRONTEND_PORT: '' },
      ),
    ).toEqual({ backend: 18080, frontend: 5173 });
    // An app without a frontend gets no frontend port from the environment.
    expect(appPorts({ backendPort: 8080 }, { FRONTEND_PORT: '5173' })).toEqual({ backend: 8080 });
    expect(() => appPorts({ backendPort: 8080 }, { BACKEND_PORT: '0x50' })).toThrow(
      'BACKEND_PORT must be a port number',
    );
    expect(() => appPorts({}, {})).toThrow('backendPort is not set');
    expect(() => appPorts({ backendPort: 8080, frontendPort: 8080 }, {})).toThrow('must differ');
  });

  it('takes the target strategy over the profile (the monitoring stack replaces in place)', () => {
    expect(strategyOf({}, staging)).toBe('blue-green');
    expect(strategyOf({ strategy: 'recreate' }, staging)).toBe('recreate');
    const m = deployModel({
      app: 'monitoring',
      options: { backendPort: 9090, strategy: 'recreate' },
      profile: staging,
      env: {},
    });
    expect(m.strategy).toBe('recreate');
    // The doctor checks the ports the release will publish: no colour ports under recreate.
    expect(publishedPorts(m.strategy, m.ports)).toEqual([9090]);
    expect(publishedPorts('blue-green', m.ports)).toEqual([9090, 19090, 29090]);
  });

  it("gives each host the inventory's own ports and paths, checked as the target's are", () => {
    const m = deployModel({
      app: 'shop',
      options: { backendPort: 8080, frontendPort: 5173 },
      profile: staging,
      env: { BACKEND_PORT: '8081' },
      inventory: inventory({
        'staging-1': { ansible_host: '{{ conveyor_ssh_host }}' },
        'staging-2': {
          ansible_host: '10.0.0.6',
          conveyor_backend_port: 9090,
          conveyor_deploy_path: '/srv/apps',
          conveyor_compose_project: 'shop-b',
        },
      }),
    });
    expect(
      m.hosts.map((h) => [h.name, h.profile.ssh_host, h.ports, h.profile.deploy_path]),
    ).toEqual([
      ['staging-1', 'staging.example.com', { backend: 8081, frontend: 5173 }, '/opt/conveyor/'],
      ['staging-2', '10.0.0.6', { backend: 9090, frontend: 5173 }, '/srv/apps'],
    ]);
    expect(m.hosts[1].projectPrefix).toBe('shop-b');
    expect(() =>
      deployModel({
        app: 'shop',
        options: { backendPort: 8080, frontendPort: 5173 },
        profile: staging,
        env: {},
        inventory: inventory({ 'staging-2': { conveyor_backend_port: 5173 } }),
        inventoryFile: 'apps/shop/infra/ansible/inventory/staging',
      }),
    ).toThrow(
      'apps/shop/infra/ansible/inventory/staging: host staging-2: The backend and frontend ports must differ',
    );
    expect(() =>
      deployModel({
        app: 'shop',
        options: { backendPort: 8080 },
        profile: staging,
        env: {},
        inventory: inventory({ 'staging-2': { ansible_user: 'root;reboot' } }),
        inventoryFile: 'apps/shop/infra/ansible/inventory/staging',
      }),
    ).toThrow(
      'apps/shop/infra/ansible/inventory/staging: host staging-2: ansible_user is "root;reboot"',
    );
  });

  it.each([0, -1, 70000, 80.5])(
    'refuses the port %p from the target and from BACKEND_PORT / FRONTEND_PORT, naming where it came from',
    (bad) => {
      const rule = `must be a port number (an integer from 1 to 65535), got "${bad}".`;
      expect(() => appPorts({ backendPort: bad }, {})).toThrow(`--backendPort ${rule}`);
      expect(() => appPorts({ backendPort: 8080, frontendPort: bad }, {})).toThrow(
        `--frontendPort ${rule}`,
      );
      expect(() => appPorts({ backendPort: 8080 }, { BACKEND_PORT: String(bad) })).toThrow(
        `BACKEND_PORT ${rule}`,
      );
      expect(() =>
        appPorts({ backendPort: 8080, frontendPort: 5173 }, { FRONTEND_PORT: String(bad) }),
      ).toThrow(`FRONTEND_PORT ${rule}`);
    },
  );

  it('is the profile host alone without an inventory', () => {
    const m = deployModel({
      app: 'shop',
      options: { backendPort: 8080 },
      profile: staging,
      env: {},
    });
    expect(m.hosts).toEqual([
      { name: 'staging.example.com', profile: staging, ports: { backend: 8080 } },
    ]);
  });
});

describe("the target's domain", () => {
  it('is the name over the profile’s, with ACME unless the profile writes its tls', () => {
    expect(withDomain(staging, 'Shop.Example.com')).toMatchObject({
      domain: 'shop.example.com',
      tls: 'acme',
    });
    const custom = {
      ...staging,
      domain: 'a.example.com',
      tls: 'custom' as const,
      tls_written: true,
    };
    expect(withDomain(custom, 'b.example.com')).toMatchObject({
      domain: 'b.example.com',
      tls: 'custom',
    });
    expect(withDomain(staging, undefined)).toBe(staging);
  });

  it("a fleet behind the target's name: each host but the first serves the first's certificate, a preview too", () => {
    const fleet = {
      app: 'shop',
      options: { backendPort: 8080, domain: 'shop.example.com' },
      profile: { ...staging, preview_domain: 'pr.example.com' },
      env: {},
      inventory: inventory({
        'web-1': { ansible_host: '10.0.0.1', conveyor_edge_http_port: 8080 },
        'web-2': { ansible_host: '10.0.0.2' },
        'web-3': { ansible_host: '10.0.0.3' },
      }),
    };
    const source = { host: 'web-1', address: '10.0.0.1', http_port: 8080 };
    for (const m of [
      deployModel(fleet),
      deployModel({ ...fleet, preview: { pr: 7, ports: { backend: 30000 } } }),
    ])
      expect(m.hosts.map((h) => h.certificateFrom)).toEqual([undefined, source, source]);
    expect(
      deployModel({ ...fleet, options: { backendPort: 8080 } }).hosts.map((h) => h.certificateFrom),
    ).toEqual([undefined, undefined, undefined]);
  });

  it('refuses what is no host name', () => {
    expect(() => withDomain(staging, 'https://x')).toThrow(
      `The deploy target's domain must be a host name such as shop.example.com, got "https://x".`,
    );
  });
});
