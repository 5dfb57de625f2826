/**
 * A host with history: a release whose folder is gone (a deploy_path deleted under running
 * containers, as a reboot empties /tmp) is named as abandoned and retired by --replaceAbandoned;
 * a live clash is still refused with the host unchanged; a moved deploy_path moves its release and
 * keeps its history; the demo runs again after its folder was deleted. Real sshd, Ansible, engine
 * and registry, as the non-root deploy user; load on the public port during each take-over.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { serverDir, stagingSshEnv } from './host';
import { startLoad, LoadStats } from './load';
import {
  e2eDir,
  getJson,
  gitCommitAll,
  imageBuildArgs,
  mustNx,
  newWorkspace,
  nxAsync,
  portBlock,
  REPO_ROOT,
  Result,
  runApp,
  sh,
  templateWorkspace,
  testEnv,
} from './utils';

const env = testEnv();
const APP = runApp('shop');
const ns = `hist${Date.now().toString(36)}`;
const backendPort = portBlock('host-history');
const frontendPort = backendPort + 1;
const folders = { a: serverDir('history-a'), b: serverDir('history-b'), c: serverDir('history-c') };

const stagingEnv = (deployPath: string): NodeJS.ProcessEnv => ({
  ...stagingSshEnv({ ns, deployPath, backendPort, frontendPort }),
  STAGING_DRAIN_SECONDS: '1',
});

async function nxIn(ws: string, deployPath: string, args: string[]): Promise<Result> {
  return nxAsync(ws, [...args, '--outputStyle=static'], stagingEnv(deployPath));
}
async function okIn(ws: string, deployPath: string, args: string[]): Promise<Result> {
  const r = await nxIn(ws, deployPath, args);
  if (r.code !== 0) throw new Error(`nx ${args.join(' ')} failed:\n${r.output.slice(-8000)}`);
  return r;
}

/** Every container of the app's compose projects on the engine: id, project, folder, running. */
function containers(): { id: string; project: string; folder: string; running: boolean }[] {
  const r = sh(
    'docker',
    [
      'ps',
      '-a',
      '--filter',
      `label=com.docker.compose.project`,
      '--format',
      '{{.ID}}|{{.Label "com.docker.compose.project"}}|{{.Label "com.docker.compose.project.working_dir"}}|{{.State}}',
    ],
    { env: { ...process.env, ...env } },
  );
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('|'))
    .filter(([, project]) => project.startsWith(`${APP}-staging`))
    .map(([id, project, folder, state]) => ({
      id,
      project,
      folder,
      running: state === 'running',
    }));
}

/** Runs a command while 8 keep-alive connections load the public /metrics. */
async function underLoad(run: () => Promise<Result>): Promise<{ r: Result; stats: LoadStats }> {
  const load = startLoad(`http://127.0.0.1:${backendPort}/metrics`, 8);
  await new Promise((r) => setTimeout(r, 1000));
  const r = await run();
  await new Promise((r) => setTimeout(r, 1000));
  return { r, stats: await load.stop() };
}

/**
 * The failed requests of a take-over lie in one window, the hand-over of the ports (a hand-over
 * proxy listens beside the old one, then beside the new one: usually none at all), none before it,
 * none after it. Returns the window in ms.
 */
function switchWindow(stats: LoadStats): number {
  const failed = stats.samples.filter((s) => s.error || s.status < 200 || s.status > 299);
  if (failed.length === 0) return 0;
  const first = Math.min(...failed.map((s) => s.at));
  const last = Math.max(...failed.map((s) => s.at));
  return last - first;
}

const served = async () =>
  (await getJson(`http://127.0.0.1:${backendPort}/metrics`)) as {
    version: { image_tag: string };
  };

const status = async (ws: string, deployPath: string) =>
  JSON.parse(
    (
      await okIn(ws, deployPath, ['run', `${APP}:status`, '--configuration=staging', '--json'])
    ).stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .pop() as string,
  );

const history = (deployPath: string) =>
  readFileSync(join(deployPath, APP, '.conveyor/history.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('a host with history', () => {
  let ws: string;
  let tag: string;
  const failures: Record<string, { requests: number; failed: number; windowMs: number }> = {};

  beforeAll(async () => {
    ws = newWorkspace('host-history');
    mustNx(ws, ['g', '@conveyor/plugin:app', APP, '--no-interactive']);
    tag = gitCommitAll(ws, APP);
    mustNx(
      ws,
      ['run', `${APP}:build-push`, '--configuration=staging', ...imageBuildArgs(env)],
      stagingEnv(folders.a),
    );
    await okIn(ws, folders.a, ['run', `${APP}:deploy`, '--configuration=staging']);
    expect((await served()).version.image_tag).toBe(tag);
  });

  afterAll(() => {
    const ids = containers().map((c) => c.id);
    if (ids.length) sh('docker', ['rm', '-f', ...ids], { env: { ...process.env, ...env } });
    // The figures the README's faults table gives.
    process.stdout.write(`host-history load: ${JSON.stringify(failures)}\n`);
  });

  it('names a release whose folder is gone as abandoned, with the one command that retires it', async () => {
    rmSync(folders.a, { recursive: true, force: true });
    const before = containers();
    expect(before.filter((c) => c.running).length).toBeGreaterThanOrEqual(2);

    const status0 = await okIn(ws, folders.b, ['run', `${APP}:status`, '--configuration=staging']);
    expect(status0.output).toContain('nothing deployed here');
    expect(status0.output).toMatch(/ABANDONED: .*its folder is gone/);

    const refused = await nxIn(ws, folders.b, ['run', `${APP}:deploy`, '--configuration=staging']);
    expect(refused.code).not.toBe(0);
    expect(refused.output).toMatch(/WARN abandoned releases: .*its folder is gone/);
    expect(refused.output).toContain(`but its folder is gone: an abandoned release of ${APP}`);
    expect(refused.output).toContain(
      `nx run ${APP}:deploy --configuration=staging --replaceAbandoned`,
    );
    expect(refused.output).toContain('nothing was changed on the host');
    expect(containers()).toEqual(before);
    expect((await served()).version.image_tag).toBe(tag);
  });

  it('--replaceAbandoned retires it under load: failures only while the ports switch; status shows one release, from B', async () => {
    const { r, stats } = await underLoad(() =>
      nxIn(ws, folders.b, [
        'run',
        `${APP}:deploy`,
        '--configuration=staging',
        '--replaceAbandoned',
      ]),
    );
    if (r.code !== 0) throw new Error(r.output.slice(-8000));
    const windowMs = switchWindow(stats);
    failures['abandoned'] = { requests: stats.requests, failed: stats.failed, windowMs };
    expect(stats.requests).toBeGreaterThan(200);
    expect(windowMs).toBeLessThan(5000);
    expect((await served()).version.image_tag).toBe(tag);

    const left = containers();
    expect(left.filter((c) => !c.folder.startsWith(folders.b))).toEqual([]);
    expect(left.filter((c) => c.running).map((c) => c.project)).toEqual(
      expect.arrayContaining([`${APP}-staging-proxy`]),
    );
    const s = await status(ws, folders.b);
    expect(s.app_path).toBe(join(folders.b, APP));
    expect(s.current.tag).toBe(tag);
    expect(s.agree).toBe(true);
    expect(s.abandoned).toEqual([]);
    // The abandoned folder took its history with it: this one starts with the refusal, then
    // the take-over (which says so) and the release.
    const h = history(folders.b);
    expect(h.map((e) => `${e.action} ${e.result}`)).toEqual([
      'deploy failed',
      'take-over ok',
      'deploy ok',
    ]);
    expect(h[1]).toMatchObject({ kind: 'abandoned', from: [join(folders.a, APP)] });
    expect(h[1].note).toContain('this history starts here');
  });

  it('--replaceAbandoned is refused for a release whose folder exists (a live clash): the host unchanged', async () => {
    const before = containers();
    const s0 = await status(ws, folders.b);
    const refused = await nxIn(ws, folders.c, [
      'run',
      `${APP}:deploy`,
      '--configuration=staging',
      '--replaceAbandoned',
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.output).toContain(`already runs from ${join(folders.b, APP)}`);
    expect(refused.output).toContain('Use one deploy_path per app and environment on a host');
    expect(refused.output).toContain(
      `nx run ${APP}:deploy --configuration=staging --moveFrom=${folders.b}`,
    );
    expect(containers()).toEqual(before);
    const s1 = await status(ws, folders.b);
    expect(s1.current).toEqual(s0.current);
    expect((await served()).version.image_tag).toBe(tag);
  });

  it('a moved deploy_path is named on its first deploy, and --moveFrom moves the release under load, keeping its history', async () => {
    const h0 = history(folders.b);
    const first = await nxIn(ws, folders.c, ['run', `${APP}:deploy`, '--configuration=staging']);
    expect(first.code).not.toBe(0);
    expect(first.output).toContain(`already runs from ${join(folders.b, APP)}`);
    expect(first.output).toContain(
      `If you moved deploy_path, move the release: nx run ${APP}:deploy --configuration=staging --moveFrom=${folders.b}`,
    );
    const { r, stats } = await underLoad(() =>
      nxIn(ws, folders.c, [
        'run',
        `${APP}:deploy`,
        '--configuration=staging',
        `--moveFrom=${folders.b}`,
      ]),
    );
    if (r.code !== 0) throw new Error(r.output.slice(-8000));
    const windowMs = switchWindow(stats);
    failures['move'] = { requests: stats.requests, failed: stats.failed, windowMs };
    expect(stats.requests).toBeGreaterThan(200);
    expect(windowMs).toBeLessThan(5000);
    expect((await served()).version.image_tag).toBe(tag);

    expect(containers().filter((c) => !c.folder.startsWith(folders.c))).toEqual([]);
    const s = await status(ws, folders.c);
    expect(s.app_path).toBe(join(folders.c, APP));
    expect(s.current.tag).toBe(tag);
    expect(s.previous.tag).toBe(tag);
    expect(s.agree).toBe(true);
    // The history of the old path comes along, then the move and the deploy.
    // (the new path's own refusal above comes after them)
    const h = history(folders.c);
    expect(h.slice(0, h0.length)).toEqual(h0);
    expect(h.slice(h0.length).map((e) => `${e.action} ${e.result}`)).toEqual([
      'deploy failed',
      'deploy failed',
      'take-over ok',
      'deploy ok',
    ]);
    expect(h[h0.length + 2]).toMatchObject({ kind: 'move', from: [join(folders.b, APP)] });
    // The old path says where its release went, and runs nothing.
    const old = history(folders.b);
    expect(old[old.length - 1]).toMatchObject({ action: 'move', to: join(folders.c, APP) });
    // A plain deploy from the old path is a live clash now, named as such.
    const again = await nxIn(ws, folders.b, [
      'run',
      `${APP}:deploy`,
      '--configuration=staging',
      '--force',
    ]);
    expect(again.code).not.toBe(0);
    expect(again.output).toContain(`already runs from ${join(folders.c, APP)}`);
    expect((await served()).version.image_tag).toBe(tag);
  });
});

describe('npm run demo, again after its folder was deleted', () => {
  it('the second run succeeds with the first run still up and its folder gone', () => {
    // Both runs reuse the e2e template workspace (create-nx-workspace + npm install of the packed
    // plugin, the demo's two slowest steps); every other step of tools/demo.sh runs for real.
    const app = runApp('demo');
    const port = portBlock('demo');
    const demoEnv = (dir: string) => ({
      ...process.env,
      DEMO_APP: app,
      DEMO_DIR: dir,
      DEMO_BACKEND_PORT: String(port),
      DEMO_FRONTEND_PORT: String(port + 1),
      DEMO_EDGE_HTTP_PORT: String(port + 2),
      DEMO_EDGE_HTTPS_PORT: String(port + 3),
      DEMO_DRAIN_SECONDS: '1',
      DEMO_WORKSPACE_TEMPLATE: templateWorkspace(),
    });
    const first = join(e2eDir(), 'demo-1');
    const r1 = sh('bash', ['tools/demo.sh'], { cwd: REPO_ROOT, env: demoEnv(first) });
    if (r1.code !== 0) throw new Error(r1.output.slice(-6000));
    expect(sh('curl', ['-fsS', `http://127.0.0.1:${port}/health`]).code).toBe(0);
    rmSync(first, { recursive: true, force: true });
    const r2 = sh('bash', ['tools/demo.sh'], {
      cwd: REPO_ROOT,
      env: demoEnv(join(e2eDir(), 'demo-2')),
    });
    try {
      if (r2.code !== 0) throw new Error(r2.output.slice(-6000));
      expect(r2.output).toContain(
        `Removing the ${app}-local-proxy containers an earlier demo left`,
      );
      // The demo's own checks: after the rollback, status agrees and names the first release.
      expect(r2.output).toMatch(/Rollback to the previous release/);
      expect(r2.output).toMatch(/live: +\w+ \(commit \w+\), colour (blue|green)/);
      expect(r2.output).toContain(`backend:  http://127.0.0.1:${port}/metrics`);
      // The app at its own name over HTTPS, checked by the demo against Pebble's root.
      expect(r2.output).toContain(`https:    https://${app}.conveyor.test:${port + 3}/`);
      expect(r2.output).toContain(`Removing the edge an earlier demo left (conveyor-edge-demo)`);
    } finally {
      const ids = sh(
        'docker',
        ['ps', '-aq', '--filter', `label=com.docker.compose.project=${app}-local-proxy`],
        { env: { ...process.env, ...env } },
      ).stdout.split('\n');
      for (const color of ['blue', 'green'])
        ids.push(
          ...sh(
            'docker',
            ['ps', '-aq', '--filter', `label=com.docker.compose.project=${app}-local-${color}`],
            { env: { ...process.env, ...env } },
          ).stdout.split('\n'),
        );
      ids.push('conveyor-edge-demo');
      const live = ids.filter(Boolean);
      if (live.length) sh('docker', ['rm', '-f', ...live], { env: { ...process.env, ...env } });
    }
  });
});
