/**
 * Helpers for the SSH test host that tools/env/up.sh provides: a private sshd (127.0.0.1:2222)
 * accepting the generated test key for root and for the non-root user deploy (group docker on
 * the engine socket), and a folder owned by deploy where tests make their servers' folders.
 */
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Result, sh, testEnv } from './utils';

function need(env: Record<string, string>, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`${name} is not in env.sh: run bash tools/env/up.sh again.`);
  return value;
}

/**
 * A fresh folder under CONVEYOR_TEST_DEPLOY_ROOT, owned by deploy:deploy (mode 0755), for one
 * test's "server" (its deploy path). Tests run as root; the deploy user writes in it over SSH.
 */
export function serverDir(prefix: string): string {
  const env = testEnv();
  const root = need(env, 'CONVEYOR_TEST_DEPLOY_ROOT');
  const uid = Number(need(env, 'CONVEYOR_TEST_DEPLOY_UID'));
  const gid = Number(need(env, 'CONVEYOR_TEST_DEPLOY_GID'));
  const dir = mkdtempSync(join(root, `${prefix.replace(/[^A-Za-z0-9._-]/g, '-')}-`));
  chownSync(dir, uid, gid);
  chmodSync(dir, 0o755);
  return dir;
}

/**
 * Runs a shell command on the test host as user (env.sh: CONVEYOR_TEST_SSH_USER is deploy,
 * CONVEYOR_TEST_SSH_ROOT_USER is root) with the test key and known hosts. The session gets
 * DOCKER_HOST from the test sshd.
 */
export function sshAs(user: string, command: string, opts: { input?: string } = {}): Result {
  const env = testEnv();
  return sh(
    'ssh',
    [
      '-i',
      need(env, 'CONVEYOR_TEST_SSH_KEY'),
      '-p',
      need(env, 'CONVEYOR_TEST_SSH_PORT'),
      '-o',
      'BatchMode=yes',
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'ConnectTimeout=10',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${need(env, 'CONVEYOR_TEST_SSH_KNOWN_HOSTS')}`,
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-o',
      'LogLevel=ERROR',
      `${user}@${need(env, 'CONVEYOR_TEST_SSH_HOST')}`,
      command,
    ],
    { input: opts.input ?? '' },
  );
}

/**
 * The environment a staging deploy to the test host runs with: registry and namespace, SSH as
 * the non-root deploy user with the pinned host key and the test key, the deploy folder and ports,
 * the local proxy image. Tests spread their own variables after it.
 */
export function stagingSshEnv(opts: {
  ns: string;
  deployPath: string;
  backendPort: number;
  frontendPort?: number;
}): NodeJS.ProcessEnv {
  const env = testEnv();
  return {
    ...process.env,
    ...env,
    REGISTRY_URL: env['CONVEYOR_TEST_REGISTRY'],
    REGISTRY_NS: opts.ns,
    STAGING_SSH_HOST: env['CONVEYOR_TEST_SSH_HOST'],
    STAGING_SSH_PORT: env['CONVEYOR_TEST_SSH_PORT'],
    STAGING_SSH_USER: env['CONVEYOR_TEST_SSH_USER'],
    STAGING_SSH_KNOWN_HOSTS: readFileSync(env['CONVEYOR_TEST_SSH_KNOWN_HOSTS'], 'utf8'),
    SSH_KEY_B64: Buffer.from(readFileSync(env['CONVEYOR_TEST_SSH_KEY'], 'utf8')).toString('base64'),
    STAGING_DEPLOY_PATH: opts.deployPath,
    STAGING_COMPOSE_COMMAND: env['CONVEYOR_COMPOSE_COMMAND'],
    BACKEND_PORT: String(opts.backendPort),
    FRONTEND_PORT: String(opts.frontendPort ?? opts.backendPort + 1),
    PROXY_IMAGE: env['CONVEYOR_PROXY_IMAGE'],
    CONVEYOR_DEPLOYER: 'e2e',
  };
}

/**
 * A host with history, made on purpose before the suites run and left there: another workspace's
 * app `shop` deployed to `staging` (compose projects shop-staging-blue and shop-staging-proxy,
 * running) from a folder that has since been deleted. A suite that reuses those names, or cleans
 * up by a broad name, meets it. Made once per engine (kept between runs, as a real machine's).
 */
export function plantForeignRelease(): void {
  const env = testEnv();
  const withEngine = { ...process.env, ...env };
  const [bin, ...composeArgs] = (env['CONVEYOR_COMPOSE_COMMAND'] ?? 'docker compose').split(' ');
  for (const project of ['shop-staging-blue', 'shop-staging-proxy']) {
    const running = sh(
      'docker',
      ['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`],
      { env: withEngine },
    );
    if (running.stdout.trim()) continue;
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-foreign-'));
    const folder = join(dir, 'shop', project.replace('shop-staging-', ''));
    mkdirSync(folder, { recursive: true });
    writeFileSync(
      join(folder, 'docker-compose.yml'),
      [
        'services:',
        '  backend:',
        `    image: ${env['CONVEYOR_NODE_IMAGE']}`,
        '    command: ["sleep", "2147483647"]',
        '',
      ].join('\n'),
    );
    const up = sh(bin, [...composeArgs, '-p', project, 'up', '-d'], {
      cwd: folder,
      env: withEngine,
    });
    if (up.code !== 0) throw new Error(`planting ${project} failed: ${up.output.slice(-2000)}`);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The app's staging inventory with these hosts (several hosts on this one machine: each sets its
 * own folder, ports, compose projects and edge). The first keeps the profile's SSH settings; the
 * others reach the same sshd as the deploy user.
 */
export function writeFleetInventory(
  ws: string,
  app: string,
  hosts: { name: string; vars: Record<string, string | number> }[],
): void {
  const env = testEnv();
  const ssh = `ansible_host=127.0.0.1 ansible_user=${need(env, 'CONVEYOR_TEST_SSH_USER')} ansible_port=${need(env, 'CONVEYOR_TEST_SSH_PORT')}`;
  const vars = (v: Record<string, string | number>) =>
    Object.entries(v)
      .map(([k, x]) => `${k}=${x}`)
      .join(' ');
  const file = join(ws, `apps/${app}/infra/ansible/inventory/staging`);
  const text = readFileSync(file, 'utf8');
  const first = /^staging-1 (.*)$/m.exec(text);
  if (!first) throw new Error(`${file} has no staging-1 line`);
  const lines = hosts.map((h, i) => `${h.name} ${vars(h.vars)} ${i === 0 ? first[1] : ssh}`);
  writeFileSync(file, text.replace(first[0], lines.join('\n')));
}
