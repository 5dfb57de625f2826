/**
 * The host helper's lock, state and history, run for real with python3 in a temp folder (no
 * engine needed: every case here stops before a container would start). What runs is the zipapp
 * as shipped, built from the package conveyor_host by the jest global setup.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HELPER = join(__dirname, 'conveyor-host.pyz');

function helper(args: string[], input = '') {
  const r = spawnSync('python3', [HELPER, ...args], { input, encoding: 'utf8' });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

const events = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const result = (stdout: string) => events(stdout).find((e) => e['event'] === 'result');

function processStart(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat
    .slice(stat.lastIndexOf(')') + 1)
    .trim()
    .split(/\s+/)[19];
}
const bootId = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

describe('conveyor-host.pyz', () => {
  let app: string;
  let state: string;
  const history = () =>
    existsSync(join(state, 'history.jsonl'))
      ? readFileSync(join(state, 'history.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>)
      : [];
  const writeHolder = (holder: Record<string, unknown>) => {
    mkdirSync(join(state, 'lock'), { recursive: true });
    writeFileSync(join(state, 'lock', 'holder.json'), JSON.stringify(holder));
  };
  const plan = (extra: Record<string, unknown> = {}) => {
    const file = join(state, 'runs', 'r1.plan.json');
    mkdirSync(join(state, 'runs'), { recursive: true });
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        run_id: 'r1',
        action: 'rollback',
        app: 'shop',
        env: 'staging',
        deployer: 'anna',
        app_path: app,
        strategy: 'recreate',
        components: ['backend'],
        public_ports: { backend: 1 },
        color_ports: { blue: { backend: 2 }, green: { backend: 3 } },
        project_prefix: 'shop-staging',
        registry: 'localhost:5000',
        target: { tag: 'v1', git_sha: 'abc1234', images: {} },
        force: false,
        health_timeout: 1,
        lock_timeout: 1,
        drain_seconds: 1,
        proxy_image: 'haproxy',
        engine_command: 'false',
        compose_command: 'false',
        compose_file: join(state, 'runs', 'r1.compose.yml'),
        compose_env: {},
        env_names: { bind: 'B', image_tag: 'T', git_sha: 'G', deployed_at: 'D', ports: {} },
        gate: { backend: '/health' },
        version_check: true,
        checks: [],
        ...extra,
      }),
    );
    return file;
  };

  beforeEach(() => {
    app = mkdtempSync(join(tmpdir(), 'conveyor-host-'));
    state = join(app, '.conveyor');
    mkdirSync(state);
  });
  afterEach(() => rmSync(app, { recursive: true, force: true }));

  it('status of a fresh folder: nothing live, lock free, state and proxy agree', () => {
    const r = helper(['status', app]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ current: null, lock: null, agree: true, history: [] });
  });

  it('reads the state files of an older Conveyor (current, previous, color)', () => {
    writeFileSync(join(state, 'current'), 'v2\n');
    writeFileSync(join(state, 'previous'), 'v1\n');
    writeFileSync(join(state, 'color'), 'green\n');
    const s = JSON.parse(helper(['status', app]).stdout);
    expect(s.current).toEqual({ tag: 'v2', color: 'green' });
    expect(s.previous).toEqual({ tag: 'v1' });
  });

  it('a release waits for a live holder, then fails naming it and saying it still runs', () => {
    const sleeper = spawn('sleep', ['30']);
    try {
      const pid = sleeper.pid as number;
      writeHolder({
        who: 'bob',
        action: 'deploy',
        tag: 'v9',
        pid,
        pid_start: processStart(pid),
        boot: bootId(),
        run_id: 'x',
      });
      const started = Date.now();
      const r = helper(['release', plan()]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(r.code).toBe(4);
      expect(result(r.stdout)).toMatchObject({ status: 'lock-held', alive: true, pid });
      expect(String(result(r.stdout)?.['holder'])).toContain('bob (deploy v9)');
      expect(existsSync(join(state, 'lock', 'holder.json'))).toBe(true);
      // --breakLock refuses a live holder.
      const b = helper(['break-lock', app, 'carol']);
      expect(b.code).toBe(4);
      expect(existsSync(join(state, 'lock'))).toBe(true);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('a dead holder (its process gone, or the host restarted) is broken and recorded', () => {
    const done = spawnSync('true');
    writeHolder({
      who: 'bob',
      action: 'deploy',
      pid: done.pid,
      pid_start: '1',
      boot: bootId(),
      run_id: 'x',
    });
    const r = helper(['release', plan({ expect_live: 'v0' })]);
    // The lock was broken, the release then refused because the live release differs from the plan.
    expect(result(r.stdout)).toMatchObject({ status: 'failed' });
    expect(String(result(r.stdout)?.['error'])).toContain(
      'the live release is none, not v0 as planned',
    );
    const h = history();
    expect(h[0]).toMatchObject({ action: 'lock-break', result: 'ok', reason: 'holder is dead' });
    expect(h[1]).toMatchObject({ action: 'rollback', result: 'failed', tag: 'v1', who: 'anna' });
    expect(existsSync(join(state, 'lock'))).toBe(false);

    writeHolder({
      who: 'dan',
      pid: process.pid,
      pid_start: processStart(process.pid),
      boot: 'another-boot',
    });
    expect(helper(['break-lock', app, 'carol']).code).toBe(0);
    expect(history().pop()).toMatchObject({ action: 'lock-break', who: 'carol' });
  });

  it('a holder it cannot judge (an older Conveyor wrote text) is broken only on request', () => {
    mkdirSync(join(state, 'lock'));
    writeFileSync(join(state, 'lock', 'holder'), 'anna since 2026-11-26T10:00:00Z (deploy abc)\n');
    const r = helper(['release', plan()]);
    expect(result(r.stdout)).toMatchObject({ status: 'lock-held', alive: null });
    expect(helper(['break-lock', app, 'carol']).code).toBe(0);
    expect(existsSync(join(state, 'lock'))).toBe(false);
  });

  it('refuses to deploy one environment over another in the same folder, naming both', () => {
    writeFileSync(
      join(state, 'state.json'),
      JSON.stringify({ env: 'production', current: { tag: 'v5' } }),
    );
    const r = helper(['release', plan()]);
    expect(r.code).toBe(1);
    expect(String(result(r.stdout)?.['error'])).toMatch(
      /holds shop of environment 'production'; this 'staging' deploy/,
    );
    expect(JSON.parse(readFileSync(join(state, 'state.json'), 'utf8')).current.tag).toBe('v5');
  });

  it('history lines are JSON: tabs and newlines in a message cannot break a line', () => {
    const file = plan({ deployer: 'a\tb\nc' });
    helper(['release', file]);
    const lines = readFileSync(join(state, 'history.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]).who).toBe('a\tb\nc');
    const h = helper(['history', app, '5']);
    expect(h.stdout.trim().split('\n')).toHaveLength(1);
  });
  it('writes the secrets of a release as files in a private folder, mounted through a compose override', () => {
    const secrets = { names: ['API_KEY', 'DATABASE_URL'], hash: 'sha256:x', services: ['backend'] };
    const values = { API_KEY: 'k-123', DATABASE_URL: 'postgres://u:p@db/x' };
    const file = plan({ secrets });
    writeFileSync(join(state, 'runs', 'r1.compose.yml'), 'services: {}\n');
    const r = helper(['release', file], JSON.stringify({ secrets: values }));
    // The engine here is `false`: the start fails, after the release folder was written.
    expect(result(r.stdout)).toMatchObject({ status: 'failed', phase: 'start' });
    const dir = join(app, 'secrets');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const [name, value] of Object.entries(values)) {
      expect(readFileSync(join(dir, name), 'utf8')).toBe(value);
      expect(statSync(join(dir, name)).mode & 0o777).toBe(0o444);
    }
    const override = readFileSync(join(app, 'docker-compose.secrets.yml'), 'utf8');
    expect(override).toContain('      - API_KEY\n      - DATABASE_URL');
    expect(override).toContain('    file: ./secrets/DATABASE_URL');
    expect(readFileSync(join(app, '.env'), 'utf8')).toContain(
      'COMPOSE_FILE=docker-compose.yml:docker-compose.secrets.yml',
    );
    expect(readFileSync(join(app, '.env'), 'utf8')).not.toContain('k-123');
    expect(r.stdout).not.toContain('k-123');

    // A secret removed from the profile is gone from the host at the next release.
    const less = { names: ['API_KEY'], hash: 'sha256:y', services: ['backend'] };
    helper(['release', plan({ secrets: less })], JSON.stringify({ secrets: { API_KEY: 'k-124' } }));
    expect(readdirSync(dir)).toEqual(['API_KEY']);
    expect(readFileSync(join(dir, 'API_KEY'), 'utf8')).toBe('k-124');
  });

  it('refuses a release whose secret did not reach the host, naming it, before anything changes', () => {
    const secrets = { names: ['API_KEY'], hash: 'sha256:x', services: ['backend'] };
    const r = helper(['release', plan({ secrets })], JSON.stringify({ secrets: {} }));
    expect(result(r.stdout)).toMatchObject({ status: 'failed', phase: 'lock' });
    expect(String(result(r.stdout)?.['error'])).toContain('secret API_KEY did not reach the host');
    expect(existsSync(join(app, 'secrets'))).toBe(false);
  });
  it('runs the before-switch hook of the run, and stops the release when it fails', () => {
    const file = plan();
    writeFileSync(join(state, 'runs', 'r1.compose.yml'), 'services: {}\n');
    writeFileSync(
      join(state, 'runs', 'r1.before-switch'),
      'echo "tag=$CONVEYOR_TAG sha=$CONVEYOR_GIT_SHA env=$CONVEYOR_ENV" > hook.out; echo not today >&2; exit 3\n',
    );
    const r = helper(['release', file]);
    expect(result(r.stdout)).toMatchObject({ status: 'failed', phase: 'switch' });
    expect(String(result(r.stdout)?.['error'])).toContain(
      'the before-switch hook failed (exit 3): not today',
    );
    expect(readFileSync(join(app, 'hook.out'), 'utf8')).toBe('tag=v1 sha=abc1234 env=staging\n');
    // Nothing of the release was started: its folder has no .env.
    expect(existsSync(join(app, '.env'))).toBe(false);
    expect(existsSync(join(state, 'runs', 'r1.before-switch'))).toBe(false);
  });
  it('keeps the compose project names a host already uses (an app deployed by an older Conveyor)', () => {
    const prefix = (stateJson: object, strategy = 'blue-green') =>
      spawnSync(
        'python3',
        [
          '-c',
          'import json, sys\n' +
            'sys.path.insert(0, sys.argv[1]); import conveyor_host as h\n' +
            'print(h.host_prefix(json.loads(sys.argv[3]), h.Paths(sys.argv[2]), "shop-staging", sys.argv[4]))',
          HELPER,
          app,
          JSON.stringify(stateJson),
          strategy,
        ],
        { encoding: 'utf8' },
      ).stdout.trim();
    expect(prefix({})).toBe('shop-staging');
    mkdirSync(join(app, 'proxy'), { recursive: true });
    writeFileSync(join(app, 'proxy', '.env'), 'COMPOSE_PROJECT_NAME=shop-proxy\n');
    expect(prefix({})).toBe('shop');
    expect(prefix({ project_prefix: 'shop-prod' })).toBe('shop-prod');
    rmSync(join(app, 'proxy'), { recursive: true });
    writeFileSync(join(app, '.env'), 'COMPOSE_PROJECT_NAME=shop\n');
    expect(prefix({}, 'recreate')).toBe('shop');
    // Moving from recreate to blue-green: the planned names (the old containers are stopped by their own .env).
    expect(prefix({}, 'blue-green')).toBe('shop-staging');
  });
});
