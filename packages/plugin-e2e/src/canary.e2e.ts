/**
 * Canary releases over the real sshd as the non-root deploy user, under load on the public port,
 * judged with PromQL by a real Prometheus that scrapes both colours (the monitoring generator's
 * config, run here on the host's loopback): a healthy release goes through every step
 * (10 -> 50 -> 100 %) with 0 failed requests; a release whose /metrics answers 500 to 30 % of
 * requests is aborted at its first step within a few analysis intervals, and the share of
 * requests that reached it stays near that step's weight; a canary that dies after its gate is
 * aborted. Ctrl-C aborts a canary judged by its own counters (the profile without Prometheus).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { poll, spawnNx } from './faults-lib';
import { join } from 'node:path';
import { serverDir, stagingSshEnv } from './host';
import { startLoad } from './load';
import { Prometheus, startPrometheus } from './prometheus';
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
const ns = `can${Date.now().toString(36)}`;
const server = serverDir('canary');
const port = portBlock('canary');
const buildArgs = imageBuildArgs(env);

let prometheus: Prometheus | undefined;
/** With `judge: 'own'`, the profile names no Prometheus: the canary's own counters judge it. */
const stagingEnv = (judge: 'promql' | 'own' = 'promql'): NodeJS.ProcessEnv => ({
  ...stagingSshEnv({ ns, deployPath: server, backendPort: port }),
  STAGING_DEPLOY_STRATEGY: 'canary',
  STAGING_DRAIN_SECONDS: '2',
  CANARY_PROMETHEUS: judge === 'promql' && prometheus ? prometheus.url : '',
});

async function nx(ws: string, args: string[], judge: 'promql' | 'own' = 'promql'): Promise<Result> {
  return nxAsync(ws, [...args, '--outputStyle=static'], stagingEnv(judge));
}
async function ok(ws: string, args: string[]): Promise<Result> {
  const r = await nx(ws, args);
  if (r.code !== 0) throw new Error(`nx ${args.join(' ')} failed:\n${r.output.slice(-8000)}`);
  return r;
}
const live = async () =>
  ((await getJson(`http://127.0.0.1:${port}/metrics`))['version'] as { image_tag: string })
    .image_tag;

describe('canary releases judged by Prometheus (PromQL) or by the canary’s own metrics', () => {
  let ws: string;
  const sha: string[] = [];

  beforeAll(async () => {
    ws = newWorkspace('canary');
    // The ports the deploy gets from BACKEND_PORT / FRONTEND_PORT, in the project too: the
    // monitoring generator derives the colours' scrape ports from the project's.
    mustNx(ws, [
      'g',
      '@conveyor/plugin:app',
      'cana',
      `--backendPort=${port}`,
      `--frontendPort=${port + 1}`,
      '--no-interactive',
    ]);
    const profile = join(ws, 'config/profiles/staging.yml');
    writeFileSync(
      profile,
      `${readFileSync(profile, 'utf8')}canary_steps: 10, 50, 100\ncanary_pause: 5\n` +
        'canary_prometheus: ${CANARY_PROMETHEUS:-}\ncanary_window: 5\n',
    );
    // The generated Prometheus config: the app's job and its colours' job, scraped every second.
    mustNx(
      ws,
      [
        'g',
        '@conveyor/plugin:monitoring',
        '--environments=staging',
        '--scrapeInterval=1s',
        '--evaluationInterval=1s',
        '--no-interactive',
      ],
      stagingEnv('own'),
    );
    prometheus = await startPrometheus(join(ws, 'monitoring/prometheus/prometheus.yml'));
    const file = join(ws, 'apps/cana/backend/src/app.ts');
    const src = readFileSync(file, 'utf8');
    sha.push(gitCommitAll(ws, 'v1'));
    await ok(ws, ['run', 'cana:build-push', '--configuration=staging', ...buildArgs]);
    writeFileSync(file, src.replace('ok: true,', "ok: true, release: 'v2',"));
    sha.push(gitCommitAll(ws, 'v2'));
    await ok(ws, ['run', 'cana:build-push', '--configuration=staging', ...buildArgs]);
    // v3 answers 500 to about 30 % of the requests of /metrics (its /health is fine: it passes the gate).
    const v3 = src.replace(
      /app\.get<\{ Querystring: \{ format\?: unknown \} \}>\('\/metrics'/,
      "app.addHook('onRequest', async (req, reply) => { if (req.url.startsWith('/metrics') && !req.url.includes('format=prometheus') && Math.random() < 0.3) return reply.code(500).send({ ok: false }); });\n  $&",
    );
    expect(v3).not.toBe(src);
    writeFileSync(file, v3);
    sha.push(gitCommitAll(ws, 'v3 fails 30 %'));
    await ok(ws, ['run', 'cana:build-push', '--configuration=staging', ...buildArgs]);
    // v4 passes its gate, then dies after 40 requests of the app's traffic (its engine restarts
    // it: counters start again from zero).
    const v4 = src.replace(
      /app\.get<\{ Querystring: \{ format\?: unknown \} \}>\('\/metrics'/,
      "let served = 0; app.addHook('onResponse', async (req) => { if (!req.url.startsWith('/health') && !req.url.includes('format=prometheus') && ++served === 40) setTimeout(() => process.exit(1), 5); });\n  $&",
    );
    expect(v4).not.toBe(src);
    writeFileSync(file, v4);
    sha.push(gitCommitAll(ws, 'v4 dies after its gate'));
    await ok(ws, ['run', 'cana:build-push', '--configuration=staging', ...buildArgs]);
    await ok(ws, ['run', 'cana:deploy', '--configuration=staging', `--tag=${sha[0]}`]);
    expect(await live()).toBe(sha[0]);
  });

  afterAll(async () => {
    await prometheus?.stop();
    downApp(join(server, 'cana'), env);
  });

  it('a healthy release goes through every step with 0 failed requests', async () => {
    const load = startLoad(`http://127.0.0.1:${port}/metrics`, 8);
    const r = await ok(ws, ['run', 'cana:deploy', '--configuration=staging', `--tag=${sha[1]}`]);
    await new Promise((res) => setTimeout(res, 1000));
    const stats = await load.stop();
    expect(r.output).toMatch(/canary color=\w+ weight=10/);
    expect(r.output).toMatch(/canary color=\w+ weight=50/);
    expect(r.output).toContain(`analysis=PromQL on ${prometheus?.url} over 5s`);
    // Prometheus scraped the canary's colour and counted the requests that reached it.
    const color = /canary color=(\w+) weight=10/.exec(r.output)?.[1];
    const served = await prometheus?.query(
      `sum(http_request_duration_seconds_count{job="cana-colors",color="${color}",route!="/health"})`,
    );
    expect(Number(served?.[0]?.value[1])).toBeGreaterThan(20);
    expect(stats.failed).toBe(0);
    expect(stats.requests).toBeGreaterThan(500);
    expect(stats.versions[0]).toBe(sha[0]);
    expect(stats.versions[stats.versions.length - 1]).toBe(sha[1]);
    expect(await live()).toBe(sha[1]);
  });

  it('a release failing 30 % of requests is aborted by PromQL at its first step; few requests reach it', async () => {
    const load = startLoad(`http://127.0.0.1:${port}/metrics`, 8);
    const r = await nx(ws, ['run', 'cana:deploy', '--configuration=staging', `--tag=${sha[2]}`]);
    await new Promise((res) => setTimeout(res, 1000));
    const stats = await load.stop();
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/canary color=\w+ weight=10/);
    expect(r.output).not.toMatch(/canary color=\w+ weight=50/);
    expect(r.output).toMatch(
      /canary 5xx ratio 0\.\d+ > 0\.05 \(PromQL over 5s, colour \w+; stable \w+: 0\.000\)/,
    );
    // Only v3 answers 500 (without a version) or reports its tag.
    const bad = stats.samples.filter((s) => s.version === sha[2] || s.status === 500);
    expect(bad.length).toBeGreaterThan(0);
    const from = bad[0].at;
    const to = bad[bad.length - 1].at;
    const during = stats.samples.filter((s) => s.at >= from && s.at <= to);
    const share = bad.length / during.length;
    const seconds = (to - from) / 1000;
    process.stdout.write(
      `canary abort: ${bad.length} of ${during.length} requests reached the bad release (${(share * 100).toFixed(1)} %), ` +
        `${seconds.toFixed(1)} s from its first request to weight 0\n`,
    );
    expect(share).toBeLessThanOrEqual(0.2);
    // Prometheus scrapes every second and the analysis runs every second: a few of each.
    expect(seconds).toBeLessThanOrEqual(8);
    expect(await live()).toBe(sha[1]);
    const status = await nx(ws, ['run', 'cana:status', '--configuration=staging']);
    expect(status.code).toBe(0);
    const history = readFileSync(join(server, 'cana/.conveyor/history.jsonl'), 'utf8');
    expect(history).toContain('"phase": "canary"');
  });

  it('a canary that dies after its gate is aborted, not promoted', async () => {
    const load = startLoad(`http://127.0.0.1:${port}/metrics`, 8);
    const r = await nx(ws, ['run', 'cana:deploy', '--configuration=staging', `--tag=${sha[3]}`]);
    await new Promise((res) => setTimeout(res, 1000));
    await load.stop();
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/canary color=\w+ weight=10/);
    expect(r.output).toMatch(
      /canary (does not answer Prometheus's scrapes|restarted: process_start_time_seconds)/,
    );
    expect(await live()).toBe(sha[1]);
    const status = await nx(ws, ['run', 'cana:status', '--configuration=staging']);
    expect(status.code).toBe(0);
    expect(status.output).toMatch(new RegExp(`live: +${sha[1]}`));
  });

  it('Ctrl-C during a canary judged by its own counters aborts it: weight 0, the stable release serves, the history names who', async () => {
    const runs = join(server, 'cana/.conveyor/runs');
    const earlier = new Set(readdirSync(runs));
    const stable = await live();
    const canary = stable === sha[0] ? sha[1] : sha[0];
    const load = startLoad(`http://127.0.0.1:${port}/metrics`, 4);
    const deploy = spawnNx(
      ws,
      ['run', 'cana:deploy', '--configuration=staging', `--tag=${canary}`],
      stagingEnv('own'),
    );
    const runLog = await poll(
      'the canary to take its first share of requests',
      () =>
        readdirSync(runs)
          .filter((f) => f.endsWith('.log') && !earlier.has(f))
          .map((f) => readFileSync(join(runs, f), 'utf8'))
          .find((text) => /"phase": "canary".*"weight": 10/.test(text)),
      120_000,
    );
    // The host's own log of the run (the killed executor's output may not reach us).
    expect(runLog).toContain("the canary's own /metrics counters");
    deploy.signal('SIGINT');
    const r = await deploy.done;
    expect(r.code).not.toBe(0);
    const history = () => readFileSync(join(server, 'cana/.conveyor/history.jsonl'), 'utf8');
    // Nx ends the executor's process tree: the host finds the deploy's connection gone.
    await poll(
      'the aborted canary in the history',
      () => history().includes('aborted on request by e2e (') || undefined,
      30_000,
      250,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${r.output.slice(-3000)}`);
    });
    await new Promise((res) => setTimeout(res, 1000));
    const stats = await load.stop();
    expect(stats.failed).toBe(0);
    expect(stats.versions[stats.versions.length - 1]).toBe(stable);
    expect(await live()).toBe(stable);
    const entry = history()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((e) => String(e['error']).includes('aborted on request by e2e ('));
    expect(entry).toMatchObject({ result: 'failed', phase: 'canary', tag: canary });
    const status = await nx(ws, ['run', 'cana:status', '--configuration=staging']);
    expect(status.code).toBe(0);
    expect(status.output).toMatch(new RegExp(`live: +${stable}`));
  });
});
