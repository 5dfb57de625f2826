/**
 * Issue: zero downtime. While a load generator runs against the app's public port: deploy v2,
 * roll back to v1, deploy a broken v3. Blue-green: no failed request, and the version switches
 * exactly once per successful operation. The same load against recreate sees failures, which
 * proves the load test can see downtime.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLoad, switchedOnce } from './load';
import {
  downApp,
  e2eDir,
  gitCommitAll,
  imageBuildArgs,
  mustNx,
  newWorkspace,
  nxAsync,
  portBlock,
  testEnv,
} from './utils';

const env = testEnv();
const ns = `zdt${Date.now().toString(36)}`;
const server = () => join(e2eDir(), 'server');
const port = portBlock('zero-downtime');
const buildArgs = imageBuildArgs(env);

const localEnv = (strategy: string, backendPort: number): NodeJS.ProcessEnv => ({
  ...process.env,
  ...env,
  LOCAL_REGISTRY_URL: env['CONVEYOR_TEST_REGISTRY'],
  REGISTRY_NS: ns,
  LOCAL_DEPLOY_PATH: server(),
  LOCAL_COMPOSE_COMMAND: env['CONVEYOR_COMPOSE_COMMAND'],
  LOCAL_DEPLOY_STRATEGY: strategy,
  LOCAL_DRAIN_SECONDS: '30',
  PROXY_IMAGE: env['CONVEYOR_PROXY_IMAGE'],
  BACKEND_PORT: String(backendPort),
  FRONTEND_PORT: String(backendPort + 1),
  CONVEYOR_DEPLOYER: 'e2e',
});

describe('zero-downtime deploys under load', () => {
  let ws: string;
  const sha: string[] = [];
  const apps = {
    bluegreen: { name: 'zdt', port, strategy: 'blue-green' },
    recreate: { name: 'zdr', port: port + 2, strategy: 'recreate' },
  };

  const change = (edit: (src: string) => string, message: string) => {
    for (const app of Object.values(apps)) {
      const file = join(ws, `apps/${app.name}/backend/src/app.ts`);
      writeFileSync(file, edit(readFileSync(file, 'utf8')));
    }
    sha.push(gitCommitAll(ws, message));
    for (const app of Object.values(apps)) {
      mustNx(
        ws,
        ['run', `${app.name}:build-push`, ...buildArgs, '--outputStyle=static'],
        localEnv(app.strategy, app.port),
      );
    }
  };

  /** Runs an nx target while loading the app's public /metrics; returns the load stats and the run. */
  const underLoad = async (
    app: { name: string; port: number; strategy: string },
    args: string[],
  ) => {
    const load = startLoad(`http://127.0.0.1:${app.port}/metrics`, 16);
    await new Promise((r) => setTimeout(r, 1500));
    const run = await nxAsync(
      ws,
      [...args, '--outputStyle=static'],
      localEnv(app.strategy, app.port),
    );
    // After a recreate, a kept-alive request to the replaced container may hang until the load's
    // 10 s timeout: the load runs on past that, so its loops reach the new containers.
    await new Promise((r) => setTimeout(r, app.strategy === 'recreate' ? 11_000 : 1500));
    const stats = await load.stop();
    return { stats, run };
  };

  beforeAll(() => {
    ws = newWorkspace('zero-downtime');
    for (const app of Object.values(apps)) {
      mustNx(ws, [
        'g',
        '@conveyor/plugin:app',
        app.name,
        `--backendPort=${app.port}`,
        `--frontendPort=${app.port + 1}`,
        '--no-interactive',
      ]);
    }
    sha.push(gitCommitAll(ws, 'v1'));
    for (const app of Object.values(apps)) {
      const e = localEnv(app.strategy, app.port);
      mustNx(ws, ['run', `${app.name}:build-push`, ...buildArgs, '--outputStyle=static'], e);
      mustNx(ws, ['run', `${app.name}:deploy`, '--outputStyle=static'], e);
    }
    change((s) => s.replace('ok: true,', "ok: true, release: 'v2',"), 'v2');
  });

  afterAll(() => {
    for (const app of Object.values(apps)) downApp(join(server(), app.name), env);
  });

  it('blue-green: deploy v2 under load, no failed request, one switch v1 -> v2', async () => {
    const { stats, run } = await underLoad(apps.bluegreen, ['run', 'zdt:deploy']);
    expect(run.code).toBe(0);
    expect(stats.failed).toBe(0);
    expect(stats.versions[stats.versions.length - 1]).toBe(sha[1]);
    expect(switchedOnce(stats.samples, sha[0], sha[1])).toEqual({
      firstIs: sha[0],
      oldAfterNewMs: true,
    });
    expect(stats.requests).toBeGreaterThan(500);
  });

  it('blue-green: rollback under load, no failed request, one switch v2 -> v1', async () => {
    const { stats, run } = await underLoad(apps.bluegreen, ['run', 'zdt:rollback']);
    expect(run.code).toBe(0);
    // v1's colour still runs inside the drain time: the rollback is a switch of the proxy.
    expect(run.output).toContain('the proxy switched back (no pull, no start)');
    expect(stats.failed).toBe(0);
    expect(stats.versions[stats.versions.length - 1]).toBe(sha[0]);
    expect(switchedOnce(stats.samples, sha[1], sha[0])).toEqual({
      firstIs: sha[1],
      oldAfterNewMs: true,
    });
  });

  it('blue-green: a broken v3 never takes traffic; no failed request, v1 serves throughout', async () => {
    change(
      (s) =>
        s.replace(
          /app\.get\('\/health'.*\n/,
          "app.get('/health', async (_req, reply) => reply.code(500).send({ ok: false }));\n",
        ),
      'v3 broken',
    );
    const { stats, run } = await underLoad(apps.bluegreen, [
      'run',
      'zdt:deploy',
      '--healthTimeout=6',
    ]);
    expect(run.code).not.toBe(0);
    expect(run.output).toContain(`${sha[0]} is live`);
    expect({ failed: stats.failed, versions: stats.versions }).toEqual({
      failed: 0,
      versions: [sha[0]],
    });
  });

  it('recreate: the same load sees failed requests during a deploy (the load test can see downtime)', async () => {
    const { stats, run } = await underLoad(apps.recreate, ['run', 'zdr:deploy', `--tag=${sha[1]}`]);
    expect(run.code).toBe(0);
    expect(stats.failed).toBeGreaterThan(0);
    expect(stats.versions).toEqual([sha[0], sha[1]]);
  });

  it('blue-green: a frontend added to a backend-only app comes with its release; the proxy keeps serving, no failed request', async () => {
    const app = apps.bluegreen;
    const appDir = join(server(), app.name);
    downApp(appDir, env);
    rmSync(appDir, { recursive: true, force: true });
    const projectFile = join(ws, `apps/${app.name}/project.json`);
    const project = readFileSync(projectFile, 'utf8');
    const json = JSON.parse(project) as {
      targets: { deploy: { options: Record<string, unknown> } };
    };
    delete json.targets.deploy.options['frontendPort'];
    try {
      writeFileSync(projectFile, JSON.stringify(json, null, 2));
      const first = await nxAsync(
        ws,
        ['run', `${app.name}:deploy`, `--tag=${sha[0]}`, '--outputStyle=static'],
        localEnv(app.strategy, app.port),
      );
      expect(first.code).toBe(0);
      const frontend = await fetch(`http://127.0.0.1:${app.port + 1}/`, {
        signal: AbortSignal.timeout(3000),
      }).then(
        (res) => `answered ${res.status}\n${first.output.slice(-4000)}`,
        () => 'refused',
      );
      expect(frontend).toBe('refused');
    } finally {
      writeFileSync(projectFile, project);
    }
    const { stats, run } = await underLoad(app, ['run', `${app.name}:deploy`, `--tag=${sha[1]}`]);
    expect(run.code).toBe(0);
    expect({ failed: stats.failed, last: stats.versions[stats.versions.length - 1] }).toEqual({
      failed: 0,
      last: sha[1],
    });
    const page = await fetch(`http://127.0.0.1:${app.port + 1}/`, {
      signal: AbortSignal.timeout(5000),
    });
    expect(page.status).toBe(200);
    const status = await nxAsync(
      ws,
      ['run', `${app.name}:status`, '--outputStyle=static'],
      localEnv(app.strategy, app.port),
    );
    expect(status.code).toBe(0);
    expect(status.output).toMatch(new RegExp(`live: +${sha[1]}`));
  });
});
