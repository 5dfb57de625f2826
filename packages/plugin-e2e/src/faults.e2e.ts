/**
 * Issue: fault matrix. Real sshd (user deploy) + ansible-playbook + engine + registry. One
 * workspace, releases v1 and v2 (and v3, not on the host yet) built once; each fault flips
 * between v1 and v2 with --tag and --force. After every fault assertConsistent() checks: a
 * healthy release answers on the public port, state.json and haproxy.cfg agree with what the
 * proxy routes to, `status` exits 0 naming the tag /metrics serves, and the next plain deploy
 * of the other tag succeeds with no manual step.
 *
 * Fault table (what these tests show; "old" = the release live before the fault, "new" = the
 * one being deployed):
 *
 * | Fault                                                  | Serves during              | Serves after                                   | Next plain deploy                                      |
 * | ------------------------------------------------------ | -------------------------- | ---------------------------------------------- | ------------------------------------------------------ |
 * | Executor SIGKILLed after the lock / after the pull /   | old, then new from the     | new: the detached worker finishes the release  | succeeds, no manual step                               |
 * | after the new colour starts / right after the switch / | switch on (no gap)         | (result ok in runs/<id>.log), lock released,   |                                                        |
 * | during the bookkeeping                                 |                            | state = proxy, status exits 0                  |                                                        |
 * | SSH connection cut at the same five phases             | same as above              | same as above; the executor fails (its message | succeeds, no manual step                               |
 * |                                                        |                            | must point to status, see the test)            |                                                        |
 * | Release worker SIGKILLed after the new colour started  | old (never switched)       | old; lock left with a dead holder, status      | breaks the dead lock (history: lock-break, "holder is  |
 * |                                                        |                            | exits 0 and shows the holder as dead           | dead") and succeeds                                    |
 * | Registry down during the pull                          | old                        | old; deploy fails naming <repo>@sha256:...,    | succeeds once the registry is back                     |
 * |                                                        |                            | history: failed, phase pull                    |                                                        |
 * | Proxy container killed after a fast rollback, then     | nothing while the proxy is | the rolled-back release (haproxy.cfg on disk   | succeeds                                               |
 * | `docker-compose up -d` in <app>/proxy                  | down                       | routes where the runtime did), status exits 0  |                                                        |
 * | Host reboot: every container stopped, then started     | nothing while stopped      | the live release, status exits 0               | succeeds                                               |
 * | from its files (`docker-compose up -d` per folder)     |                            |                                                |                                                        |
 * | Stale image under the release's tag on the host        | old                        | new, running the recorded digest (the tag is   | succeeds                                               |
 * |                                                        |                            | re-pointed), /metrics reports its commit       |                                                        |
 * | Live lock holder (another release still running)       | old                        | old; deploy fails: "It is still running (pid N | after the holder ends: breaks its lock (history:       |
 * |                                                        |                            | on the host): wait for it and deploy again";   | lock-break) and succeeds                               |
 * |                                                        |                            | --breakLock is refused while it lives          |                                                        |
 */
import { ChildProcess, spawn } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AppFiles,
  bootId,
  composeProjects,
  composeUpFromFiles,
  containersOf,
  cutSsh,
  ensureRegistry,
  killPids,
  newRunLog,
  onHost,
  poll,
  processStart,
  registryPid,
  removeKilledExecutorDirs,
  runIdOf,
  sleep,
  spawnNx,
  workerPids,
} from './faults-lib';
import { serverDir, stagingSshEnv } from './host';
import {
  downApp,
  getJson,
  gitCommitAll,
  imageBuildArgs,
  mustNx,
  newWorkspace,
  nxAsync,
  portBlock,
  Result,
  testEnv,
} from './utils';

const env = testEnv();
const app = 'fapp';
const ns = `flt${Date.now().toString(36)}`;
const backendPort = portBlock('faults');
const frontendPort = backendPort + 1;
const prefix = `${app}-staging`;
const buildArgs = imageBuildArgs(env);
const DRAIN = 2;

let server: string;
let appDir: string;
let files: AppFiles;
let ws: string;
/** tag -> commit of v1, v2, v3 (tags are the short commits). */
const commits: Record<string, string> = {};
const tags: string[] = [];
const outputs: string[] = [];

function stagingEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...stagingSshEnv({ ns, deployPath: server, backendPort, frontendPort }),
    // The matrix stops and kills its registry: one of its own, so suites beside it keep theirs.
    REGISTRY_URL: env['CONVEYOR_TEST_FAULTS_REGISTRY'],
    CONVEYOR_DEPLOYER: 'e2e-faults',
    STAGING_DRAIN_SECONDS: String(DRAIN),
    TELEGRAM_TOKEN: '',
    ...extra,
  };
}

async function nxRun(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Result> {
  const r = await nxAsync(ws, [...args, '--outputStyle=static'], stagingEnv(extra));
  outputs.push(r.output);
  return r;
}

async function nxOk(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Result> {
  const r = await nxRun(args, extra);
  if (r.code !== 0) throw new Error(`nx ${args.join(' ')} failed:\n${r.output.slice(-6000)}`);
  return r;
}

const deployArgs = (tag: string, ...more: string[]) => [
  'run',
  `${app}:deploy`,
  '--configuration=staging',
  `--tag=${tag}`,
  '--force',
  '--healthTimeout=30',
  ...more,
];

async function served(): Promise<{ image_tag: string; git_sha: string } | undefined> {
  try {
    const m = await getJson(`http://127.0.0.1:${backendPort}/metrics`);
    return m['version'] as { image_tag: string; git_sha: string };
  } catch {
    return undefined;
  }
}

/** What /metrics serves once it answers with one of the releases (polls: a worker may finish). */
async function servedTag(timeoutMs = 30_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    const v = await served();
    last = v;
    if (v && tags.includes(v.image_tag)) return v.image_tag;
    await sleep(300);
  }
  throw new Error(
    `/metrics on ${backendPort} serves no known release (last: ${JSON.stringify(last)})`,
  );
}

const holderAlive = (h: Record<string, unknown>) => {
  try {
    return processStart(Number(h['pid'])) === h['pid_start'] && h['boot'] === bootId();
  } catch {
    return false;
  }
};

/** Waits until the release on the host has ended (result line, or no worker left) and the
 * lock is free or held by a dead process (the next deploy breaks that one). */
async function settle(runLog?: string): Promise<void> {
  await poll(
    'the release worker to end',
    () =>
      (runLog && files.events(runLog).some((e) => e.event === 'result')) ||
      workerPids(appDir).length === 0
        ? true
        : undefined,
    180_000,
    200,
  );
  await poll(
    'the lock to be free (or its holder dead)',
    () => {
      const h = files.holder();
      return !h || !holderAlive(h) ? true : undefined;
    },
    60_000,
    200,
  );
}

const other = (tag: string) => (tag === tags[0] ? tags[1] : tags[0]);

/**
 * After a fault: a healthy release answers on the public port; state.json, haproxy.cfg and the
 * proxy agree; `status` exits 0 and names the tag /metrics serves; then the next plain deploy
 * of the other release succeeds and /metrics shows it. Returns what served after the fault.
 */
async function assertConsistent(
  opts: { runLog?: string; expect?: string } = {},
): Promise<{ tag: string; next: Result }> {
  await settle(opts.runLog);
  const tag = await servedTag();
  if (opts.expect) expect(tag).toBe(opts.expect);
  const st = await nxRun(['run', `${app}:status`, '--configuration=staging']);
  expect({
    code: st.code,
    live: /live:\s+([\w.-]+)/.exec(st.output)?.[1],
    output: st.output,
  }).toEqual({
    code: 0,
    live: tag,
    output: expect.any(String),
  });
  const state = files.state();
  expect(state.current?.tag).toBe(tag);
  expect(files.cfgColor()).toBe(state.current?.color);
  const next = other(tag);
  const r = await nxRun(deployArgs(next));
  expect({ code: r.code, tail: r.code === 0 ? '' : r.output.slice(-3000) }).toEqual({
    code: 0,
    tail: '',
  });
  expect(await servedTag()).toBe(next);
  return { tag, next: r };
}

// ---------------------------------------------------------------------------------------------

const phases: { name: string; reached: (log: string, runId: string) => boolean }[] = [
  { name: 'after the lock', reached: (_l, id) => files.holder()?.['run_id'] === id },
  {
    name: 'after the pull',
    reached: (l) => files.events(l).some((e) => e.event === 'phase' && e.phase === 'start'),
  },
  {
    name: 'after the new colour starts',
    reached: (l) => files.events(l).some((e) => e.event === 'phase' && e.phase === 'gate'),
  },
  {
    name: 'right after the switch',
    reached: (l) => {
      const sw = files.events(l).find((e) => e.event === 'phase' && e.phase === 'switch');
      return !!sw && files.cfgColor() === sw.color;
    },
  },
  {
    name: 'during the bookkeeping',
    reached: (l) => files.events(l).some((e) => e.event === 'phase' && e.phase === 'record'),
  },
];

/** Starts a deploy of the other release and waits until the host reached the phase. */
async function deployUntil(phase: (typeof phases)[number], extra: NodeJS.ProcessEnv = {}) {
  const live = await servedTag();
  const target = other(live);
  const before = files.runLogs();
  const running = spawnNx(ws, deployArgs(target), stagingEnv(extra));
  const log = await newRunLog(files, before, running);
  try {
    await poll(`phase "${phase.name}"`, () => phase.reached(log, runIdOf(log)), 120_000, 10);
  } catch (e) {
    running.kill();
    throw new Error(`${(e as Error).message}\n${(await running.done).output.slice(-4000)}`);
  }
  return { live, target, running, log };
}

describe('fault matrix: interrupted and broken deploys end consistent', () => {
  beforeAll(async () => {
    server = serverDir('faults');
    appDir = join(server, app);
    files = new AppFiles(appDir);
    ws = newWorkspace('faults');
    mustNx(ws, ['g', '@conveyor/plugin:app', app, '--no-interactive']);
    const release = async (message: string, change?: (s: string) => string) => {
      if (change) {
        const file = join(ws, `apps/${app}/backend/src/app.ts`);
        writeFileSync(file, change(readFileSync(file, 'utf8')));
      }
      const sha = gitCommitAll(ws, message);
      await nxOk(['run', `${app}:build-push`, '--configuration=staging', ...buildArgs]);
      tags.push(sha);
      commits[sha] = sha;
    };
    await release('v1');
    await release('v2', (s) => s.replace('ok: true,', "ok: true, release: 'v2',"));
    await release('v3', (s) => s.replace('ok: true,', "ok: true, release: 'v3',"));
    // v3's backend image must not be on the host: the registry fault needs a real pull.
    removeLocalImage(`${backendRepo()}:${tags[2]}`);
    await nxOk(deployArgs(tags[0]));
    expect(await servedTag()).toBe(tags[0]);
  });

  afterAll(async () => {
    await ensureRegistry(env);
    await sleep(500);
    await settle().catch(() => undefined);
    if (appDir) downApp(appDir, env);
  });

  const backendRepo = () => `${env['CONVEYOR_TEST_FAULTS_REGISTRY']}/${ns}/${app}_backend`;

  function removeLocalImage(ref: string) {
    const id = onHost(env, `docker image inspect --format '{{.Id}}' ${ref}`).stdout.trim();
    const names = JSON.parse(
      onHost(env, `docker image inspect --format '{{json .RepoTags}}' ${id}`).stdout.trim() || '[]',
    ) as string[];
    for (const n of names) onHost(env, `docker rmi ${n} >/dev/null`);
    expect(onHost(env, `docker image ls -q --no-trunc`).stdout).not.toContain(
      id.replace('sha256:', ''),
    );
  }

  describe.each(phases.map((p) => [p.name, p] as const))(
    'a deploy interrupted %s',
    (_name, phase) => {
      it('by SIGKILL of the executor: the release completes on the host, the next deploy succeeds', async () => {
        const { target, running, log } = await deployUntil(phase);
        running.kill();
        const r = await running.done;
        outputs.push(r.output);
        removeKilledExecutorDirs(appDir);
        await assertConsistent({ runLog: log, expect: target });
        expect(files.events(log).find((e) => e.event === 'result')?.status).toBe('ok');
      });

      it('by cutting the SSH connection: the release completes on the host, the next deploy succeeds', async () => {
        const { target, running, log } = await deployUntil(phase);
        const cut = cutSsh(appDir);
        const r = await running.done;
        outputs.push(r.output);
        // Early phases always have a live connection to cut (later ones may have ended already).
        if (phases.indexOf(phase) <= 2) expect(cut.length).toBeGreaterThan(0);
        await assertConsistent({ runLog: log, expect: target });
        expect(files.events(log).find((e) => e.event === 'result')?.status).toBe('ok');
        // Early phases always lose the result with the connection. Later, the result may have
        // arrived just before the cut: then the executor reports the release it got.
        if (phases.indexOf(phase) <= 2 && cut.length) expect(r.code).not.toBe(0);
        if (cut.length && r.code !== 0) {
          // The executor cannot know how the release ended: it must say that the release goes
          // on on the host and where to look, not that the host is unreachable.
          expect(r.output).not.toContain('is unreachable over SSH');
          expect(r.output).toContain(`nx run ${app}:status --configuration=staging`);
        }
        if (r.code === 0) expect(r.output).toContain(`deploy done: ${target} is live`);
      });
    },
  );

  it('the release worker itself killed after the new colour started: the old release serves, the next deploy breaks the dead lock and records it', async () => {
    const { live, running, log } = await deployUntil(phases[2]);
    const workers = workerPids(appDir);
    expect(workers.length).toBe(1);
    const holder = files.holder();
    expect(holder?.['pid']).toBe(workers[0]);
    killPids(workers);
    const r = await running.done;
    outputs.push(r.output);
    expect(r.code).not.toBe(0);
    expect(files.events(log).some((e) => e.event === 'result')).toBe(false);
    const breaksBefore = files.history().filter((e) => e['action'] === 'lock-break').length;
    const { next } = await assertConsistent({ runLog: log, expect: live });
    const breaks = files.history().filter((e) => e['action'] === 'lock-break');
    expect(breaks.length).toBe(breaksBefore + 1);
    expect(breaks[breaks.length - 1]).toMatchObject({
      reason: 'holder is dead',
      holder: { pid: workers[0] },
    });
    expect(next.output).toContain('lock-broken');
  });

  it('registry down during the pull: the deploy fails naming the image, the live release serves; after the registry is back the next deploy succeeds', async () => {
    const live = await servedTag();
    const before = files.plans();
    const beforeLogs = files.runLogs();
    const pid = registryPid(env);
    expect(pid).toBeDefined();
    try {
      const running = spawnNx(ws, deployArgs(tags[2]), stagingEnv());
      // The executor has read the digests from the registry once the plan is on the host.
      await poll(
        'the plan uploaded to the host',
        () => (files.plans().some((p) => !before.includes(p)) ? true : undefined),
        120_000,
        10,
      );
      killPids([pid as number], 'SIGSTOP');
      const log = await newRunLog(files, beforeLogs, running);
      await poll(
        'the pull to start',
        () => files.events(log).some((e) => e.event === 'phase' && e.phase === 'pull'),
        60_000,
        10,
      );
      await sleep(1000);
      killPids([pid as number], 'SIGKILL');
      const r = await running.done;
      outputs.push(r.output);
      expect(r.code).not.toBe(0);
      expect(r.output).toContain(`${backendRepo()}@sha256:`);
      expect(r.output).toContain(`${live} is live: it kept serving`);
      expect((await served())?.image_tag).toBe(live);
      expect(files.history().pop()).toMatchObject({
        result: 'failed',
        phase: 'pull',
        tag: tags[2],
      });
    } finally {
      await ensureRegistry(env);
    }
    await assertConsistent({ expect: live });
    await nxOk(deployArgs(tags[2]));
    expect(await served()).toEqual({ image_tag: tags[2], git_sha: tags[2] });
    await nxOk(deployArgs(tags[0]));
  });

  it('proxy container killed and restarted after a fast rollback: it serves the rolled-back release', async () => {
    const slow = { STAGING_DRAIN_SECONDS: '30' };
    const from = await servedTag();
    const to = other(from);
    await nxOk(deployArgs(to), slow);
    expect(await servedTag()).toBe(to);
    const rb = await nxOk(['run', `${app}:rollback`, '--configuration=staging'], slow);
    expect(rb.output).toContain('the proxy switched back (no pull, no start)');
    expect(await servedTag()).toBe(from);
    const proxy = containersOf(env, `${prefix}-proxy`);
    expect(proxy.length).toBe(1);
    onHost(env, `docker kill ${proxy[0]} >/dev/null`);
    expect(await served()).toBeUndefined();
    composeUpFromFiles(env, [join(appDir, 'proxy')]);
    expect(await servedTag()).toBe(from);
    await assertConsistent({ expect: from });
  });

  it('host reboot (every container stopped, then started from its files): the live release answers, status agrees', async () => {
    const live = await servedTag();
    await settle();
    const ids = composeProjects(prefix).flatMap((p) => containersOf(env, p));
    expect(ids.length).toBeGreaterThanOrEqual(3);
    onHost(env, `docker stop -t 2 ${ids.join(' ')} >/dev/null`);
    for (const p of composeProjects(prefix)) expect(containersOf(env, p)).toEqual([]);
    expect(await served()).toBeUndefined();
    composeUpFromFiles(
      env,
      ['blue', 'green', 'proxy'].map((d) => join(appDir, d)),
    );
    await assertConsistent({ expect: live });
  });

  it('a stale image under the same tag on the host: the deploy runs the recorded digest and commit', async () => {
    const live = await servedTag();
    const target = other(live);
    for (const component of ['backend', 'frontend']) {
      const repo = `${env['CONVEYOR_TEST_FAULTS_REGISTRY']}/${ns}/${app}_${component}`;
      onHost(env, `docker tag ${repo}:${live} ${repo}:${target}`);
    }
    await nxOk(deployArgs(target));
    expect(await served()).toEqual({ image_tag: target, git_sha: commits[target] });
    const state = files.state();
    const digest = state.current?.images?.backend.digest as string;
    expect(digest).toMatch(/^sha256:/);
    const running = containersOf(env, `${prefix}-${state.current?.color}`);
    const images = running.map((c) =>
      onHost(env, `docker inspect --format '{{.Image}}' ${c}`).stdout.trim(),
    );
    const digests = images.map(
      (i) => onHost(env, `docker image inspect --format '{{json .RepoDigests}}' ${i}`).stdout,
    );
    expect(digests.some((d) => d.includes(`@${digest}`))).toBe(true);
    await assertConsistent({ expect: target });
  });

  it('a live lock holder: the deploy says it still runs and how to go on, --breakLock is refused; once it is gone the next deploy breaks the lock', async () => {
    // The last switch's drain stop takes the lock after DRAIN seconds: let it pass first.
    await settle();
    await sleep((DRAIN + 2) * 1000);
    await settle();
    const live = await servedTag();
    let sleeper: ChildProcess | undefined = spawn('sleep', ['300'], { stdio: 'ignore' });
    try {
      const pid = sleeper.pid as number;
      const tmp = join(files.stateDir, `.lock-e2e-${pid}`);
      mkdirSync(tmp);
      writeFileSync(
        join(tmp, 'holder.json'),
        JSON.stringify({
          who: 'anna@laptop',
          action: 'deploy',
          tag: 'abc1234',
          run_id: `e2e-${pid}`,
          since: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
          pid,
          pid_start: processStart(pid),
          boot: bootId(),
        }),
      );
      const uid = Number(env['CONVEYOR_TEST_DEPLOY_UID']);
      const gid = Number(env['CONVEYOR_TEST_DEPLOY_GID']);
      chownSync(join(tmp, 'holder.json'), uid, gid);
      chownSync(tmp, uid, gid);
      renameSync(tmp, files.lockDir);

      const held = await nxRun(deployArgs(other(live), '--lockTimeout=3'));
      expect(held.code).not.toBe(0);
      expect(held.output).toContain('anna@laptop (deploy abc1234)');
      expect(held.output).toContain(`It is still running (pid ${pid} on the host)`);
      expect(held.output).toContain('wait for it and deploy again');

      const refused = await nxRun(deployArgs(other(live), '--breakLock', '--lockTimeout=3'));
      expect(refused.code).not.toBe(0);
      expect(refused.output).toContain('--breakLock refused');
      expect(refused.output).toContain('which is alive');
      expect(files.holder()?.['pid']).toBe(pid);
      expect(await servedTag()).toBe(live);

      sleeper.kill('SIGKILL');
      await new Promise((r) => sleeper?.once('exit', r));
      sleeper = undefined;
      const { next } = await assertConsistent({ expect: live });
      expect(next.output).toContain('lock-broken');
      expect(
        files
          .history()
          .filter((e) => e['action'] === 'lock-break')
          .pop(),
      ).toMatchObject({
        reason: 'holder is dead',
        holder: { pid, who: 'anna@laptop' },
      });
    } finally {
      sleeper?.kill('SIGKILL');
    }
  });
});
