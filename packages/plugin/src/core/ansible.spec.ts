import {
  extraVars,
  fastRollbackCommand,
  PlaybookInput,
  playbookCommand,
  sshCommonArgs,
} from './ansible';
import type { Profile } from './profile';

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
};

const input: PlaybookInput = {
  app: 'shop',
  action: 'deploy',
  tag: 'abc1234',
  force: false,
  profile: staging,
  backendPort: 8080,
  frontendPort: 5173,
  healthTimeout: 60,
  lockTimeout: 120,
  composeSrc: '/w/apps/shop/docker-compose.staging.yml',
  deployer: 'anna@laptop',
  registryLogin: true,
  loginCommand: 'docker',
  gitShas: { abc1234: 'abc1234' },
  resultFile: '/tmp/x/result.json',
  ssh: { keyFile: '/tmp/x/id_deploy', knownHostsFile: '/tmp/x/known_hosts' },
};

describe('ansible extra vars', () => {
  it('carries the profile and options the playbook reads', () => {
    expect(extraVars(input)).toMatchObject({
      conveyor_app: 'shop',
      conveyor_action: 'deploy',
      conveyor_tag: 'abc1234',
      conveyor_profile: 'staging',
      conveyor_registry: 'reg.example.com',
      conveyor_registry_namespace: 'acme',
      conveyor_deploy_path: '/opt/conveyor/',
      conveyor_compose_command: 'docker compose',
      conveyor_ssh_host: 'staging.example.com',
      conveyor_ssh_user: 'deploy',
      conveyor_ssh_port: 2222,
      conveyor_backend_port: 8080,
      conveyor_frontend_port: 5173,
      ansible_ssh_private_key_file: '/tmp/x/id_deploy',
      conveyor_strategy: 'blue-green',
      conveyor_drain_seconds: 5,
      conveyor_proxy_image: 'haproxy:2.8-alpine',
      conveyor_color_ports: {
        blue: { backend: 18080, frontend: 15173 },
        green: { backend: 28080, frontend: 25173 },
      },
    });
  });
  it('never carries registry credentials', () => {
    const text = JSON.stringify(extraVars(input));
    expect(text).not.toContain('pw');
    expect(text).not.toContain('ci:');
  });
  it('has no SSH settings for a local profile', () => {
    const vars = extraVars({ ...input, profile: { ...staging, connection: 'local' }, ssh: {} });
    expect(vars).not.toHaveProperty('ansible_ssh_common_args');
    expect(vars).not.toHaveProperty('conveyor_ssh_host');
  });
  it('leaves the frontend port empty for a backend-only app', () => {
    expect(extraVars({ ...input, frontendPort: undefined }).conveyor_frontend_port).toBe('');
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

describe('fast rollback command', () => {
  const base = {
    app: 'shop',
    deployer: "anna's laptop",
    backendPort: 8080,
    hasFrontend: true,
    to: '',
    ssh: { keyFile: '/tmp/x/id', knownHostsFile: '/tmp/x/kh' },
  };
  it('runs the host helper over one ssh connection, words quoted for the remote shell', () => {
    const c = fastRollbackCommand({ ...base, profile: staging });
    expect(c.argv.slice(0, 5)).toEqual(['ssh', '-p', '2222', '-i', '/tmp/x/id']);
    expect(c.argv).toContain('StrictHostKeyChecking=yes');
    expect(c.argv).toContain('UserKnownHostsFile=/tmp/x/kh');
    expect(c.argv[c.argv.length - 2]).toBe('deploy@staging.example.com');
    expect(c.argv[c.argv.length - 1]).toBe(
      "/opt/conveyor/shop/.conveyor/conveyor-rollback.py /opt/conveyor/shop 'anna'\\''s laptop' 5 'docker compose' backend,frontend 8080",
    );
  });
  it('runs it directly for a local profile, with the tag when one is asked for', () => {
    const c = fastRollbackCommand({
      ...base,
      hasFrontend: false,
      to: 'abc1234',
      profile: { ...staging, connection: 'local' },
    });
    expect(c.argv).toEqual([
      '/opt/conveyor/shop/.conveyor/conveyor-rollback.py',
      '/opt/conveyor/shop',
      "anna's laptop",
      '5',
      'docker compose',
      'backend',
      '8080',
      'abc1234',
    ]);
  });
});
