import { extraVars, PlaybookInput, playbookCommand, sshCommonArgs } from './ansible';
import { helperCommand, hostResult, parseHostEvents } from './host';
import type { Profile } from '../config/profile';
import { deployModel, DeployModelOptions } from '../release/deploy-model';
import { PlanInput, planRelease } from '../release/release-plan';

const staging: Profile = {
  name: 'staging',
  file: 'config/profiles/staging.yml',
  registry: 'https://ci:pw@reg.example.com',
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

const input: PlaybookInput = {
  app: 'shop',
  profile: staging,
  hosts: {
    'staging-1': {
      appPath: '/opt/conveyor/shop',
      planFile: '/tmp/x/plan.json',
      hostPlan: '/opt/conveyor/shop/.conveyor/runs/r1.plan.json',
      hostCompose: '/opt/conveyor/shop/.conveyor/runs/r1.compose.yml',
      resultFile: '/tmp/x/result.jsonl',
    },
  },
  composeSrc: '/w/apps/shop/docker-compose.staging.yml',
  hostHelper: '/w/node_modules/@conveyor/plugin/src/host/conveyor-host.pyz',
  ssh: { keyFile: '/tmp/x/id_deploy', knownHostsFile: '/tmp/x/known_hosts' },
};

describe('ansible extra vars', () => {
  it("carry each host's files and the connection, nothing else", () => {
    const vars = extraVars(input);
    expect(vars).toMatchObject({
      conveyor_app: 'shop',
      conveyor_hosts: {
        'staging-1': {
          app_path: '/opt/conveyor/shop',
          plan_file: '/tmp/x/plan.json',
          host_plan: '/opt/conveyor/shop/.conveyor/runs/r1.plan.json',
          host_compose: '/opt/conveyor/shop/.conveyor/runs/r1.compose.yml',
          result_file: '/tmp/x/result.jsonl',
        },
      },
      conveyor_ssh_host: 'staging.example.com',
      conveyor_ssh_user: 'deploy',
      conveyor_ssh_port: 2222,
      ansible_ssh_private_key_file: '/tmp/x/id_deploy',
    });
    expect(JSON.stringify(vars)).not.toContain('pw');
  });
  it('has no SSH settings for a local profile', () => {
    const vars = extraVars({ ...input, profile: { ...staging, connection: 'local' } });
    expect(Object.keys(vars).filter((k) => k.includes('ssh'))).toEqual([]);
  });
});

describe('ssh options', () => {
  it('checks host keys strictly against the given known_hosts', () => {
    expect(sshCommonArgs({ knownHostsFile: '/k' })).toContain(
      '-o UserKnownHostsFile=/k -o StrictHostKeyChecking=yes',
    );
  });
  it('accepts new host keys only on first use without known_hosts, never "no"', () => {
    const args = sshCommonArgs({});
    expect(args).toContain('StrictHostKeyChecking=accept-new');
    expect(args).not.toMatch(/StrictHostKeyChecking=(no|off)\b/);
  });
});

describe('ansible-playbook command', () => {
  it('uses the profile inventory and a vars file, nothing secret in argv', () => {
    expect(playbookCommand('staging', '/tmp/x/vars.json').argv).toEqual([
      'ansible-playbook',
      '-i',
      'inventory/staging',
      'playbook.yml',
      '-e',
      '@/tmp/x/vars.json',
    ]);
  });
});

describe('ansible-playbook command', () => {
  it('uses the profile inventory and a vars file, nothing secret in argv', () => {
    expect(playbookCommand('staging', '/tmp/x/vars.json').argv).toEqual([
      'ansible-playbook',
      '-i',
      'inventory/staging',
      'playbook.yml',
      '-e',
      '@/tmp/x/vars.json',
    ]);
  });
});

describe('release plan', () => {
  const plan = (over: Partial<PlanInput> = {}, options: DeployModelOptions = {}) => {
    const model = deployModel({
      app: 'shop',
      options: {
        backendPort: 8080,
        frontendPort: 5173,
        healthTimeout: 20,
        lockTimeout: 60,
        ...options,
      },
      profile: staging,
      env: {},
    });
    return planRelease({
      runId: 'r1',
      action: 'deploy',
      model,
      host: model.hosts[0],
      deployer: 'anna',
      target: {
        tag: 'abc1234',
        gitSha: 'abc1234',
        digests: { backend: 'sha256:b', frontend: 'sha256:f' },
      },
      force: false,
      ...over,
    });
  };
  it('decides images by digest, ports, projects and paths before anything runs', () => {
    const p = plan();
    expect(p.target.images).toEqual({
      backend: { repository: 'reg.example.com/acme/shop_backend', digest: 'sha256:b' },
      frontend: { repository: 'reg.example.com/acme/shop_frontend', digest: 'sha256:f' },
    });
    expect(p.app_path).toBe('/opt/conveyor/shop');
    expect(p.project_prefix).toBe('shop-staging');
    expect(p.color_ports).toEqual({
      blue: { backend: 18080, frontend: 15173 },
      green: { backend: 28080, frontend: 25173 },
    });
    expect(p.compose_file).toBe('/opt/conveyor/shop/.conveyor/runs/r1.compose.yml');
    expect(p.gate).toEqual({ backend: '/health', frontend: '/' });
    expect(JSON.stringify(p)).not.toContain('pw');
  });
  it('refuses a release without a digest for one of its images', () => {
    expect(() =>
      plan({ target: { tag: 't', gitSha: '', digests: { backend: 'sha256:b' } } }),
    ).toThrow('The release t has no recorded digest for frontend.');
  });
  it("a canary is judged on the profile's Prometheus, selecting this host's colours, else by its own counters", () => {
    expect(plan({}, { strategy: 'canary' }).canary).toMatchObject({ steps: [10, 50, 100] });
    expect(plan({}, { strategy: 'canary' }).canary?.prometheus).toBeUndefined();
    const model = deployModel({
      app: 'shop',
      options: { backendPort: 8080, strategy: 'canary' },
      profile: { ...staging, canary_prometheus: 'http://127.0.0.1:9090', canary_window: 15 },
      env: {},
    });
    const p = planRelease({
      runId: 'r1',
      action: 'deploy',
      model,
      host: { ...model.hosts[0], name: 'web-2' },
      deployer: 'anna',
      target: { tag: 't', gitSha: 't', digests: { backend: 'sha256:b' } },
      force: false,
    });
    expect(p.canary?.prometheus).toEqual({
      url: 'http://127.0.0.1:9090',
      window: 15,
      selector: 'job="shop-colors",app="shop",env="staging",host="web-2"',
    });
    // A rollback is no canary: nothing to judge.
    expect(plan({ action: 'rollback' }, { strategy: 'canary' }).canary).toBeUndefined();
  });
  it('a rollback carries the live release it was planned from; a strategy can be forced', () => {
    expect(plan({ action: 'rollback', expectLive: 'v2' }, { strategy: 'recreate' })).toMatchObject({
      expect_live: 'v2',
      strategy: 'recreate',
    });
  });
});

describe('host helper commands', () => {
  it('run over one ssh connection, options before "--" and the user, words quoted', () => {
    const c = helperCommand({ ...staging, ssh_user: 'de ploy' }, 'shop', input.ssh, 'history', [
      '5',
    ]);
    expect(c.argv.slice(-3)).toEqual([
      '--',
      'de ploy@staging.example.com',
      '/opt/conveyor/shop/.conveyor/conveyor-host.pyz history /opt/conveyor/shop 5',
    ]);
    expect(c.argv).toContain('UserKnownHostsFile=/tmp/x/known_hosts');
  });
  it('run directly for a local profile; a switch-back takes its plan on stdin', () => {
    const c = helperCommand(
      { ...staging, connection: 'local' },
      'shop',
      {},
      'switch-back',
      ['-'],
      '{"x":1}',
    );
    expect(c).toEqual({
      argv: ['/opt/conveyor/shop/.conveyor/conveyor-host.pyz', 'switch-back', '-'],
      stdin: '{"x":1}',
    });
  });
  it("parse the helper's JSON lines and find its result", () => {
    const events = parseHostEvents(
      'noise\n{"event":"phase","phase":"pull"}\n{"event":"result","status":"ok"}\n{bad',
    );
    expect(events).toHaveLength(2);
    expect(hostResult(events)).toEqual({ event: 'result', status: 'ok' });
  });
});
