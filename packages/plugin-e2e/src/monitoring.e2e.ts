/**
 * Issue: monitoring. A real Prometheus (Debian's package), started here with the config the
 * monitoring generator wrote, scrapes an app deployed with the local profile; its HTTP API shows
 * the build info, the request counts and the deploy time, follows a new deploy, and fires the
 * target-down alert when the app stops. Then the generated Prometheus + Alertmanager stack is
 * built, deployed, redeployed and rolled back with the same executors and the same host helper
 * as the apps (recreate, whatever the profile says), keeping its data and its Telegram token on
 * the host.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { freePort, Prometheus, Sample, startPrometheus } from './prometheus';
import {
  imageBuildArgs,
  e2eDir,
  getJson,
  gitCommitAll,
  must,
  mustNx,
  newWorkspace,
  nx,
  Result,
  sh,
  testEnv,
  waitFor,
} from './utils';

const env = testEnv();
const ns = `mon${Date.now().toString(36)}`;
const host = mkdtempSync(join(e2eDir(), 'monitoring-host-'));
// Compose project names are global to the engine: names no other run uses.
const suffix = Date.now().toString(36).slice(-6);
const APP = `shop-${suffix}`;
const BUILD_INFO = `shop_${suffix}_build_info`;
const STACK = `monitoring-${suffix}`;
const telegramToken = `${Math.floor(Math.random() * 1e9)}:${randomBytes(12).toString('hex')}`;
const buildArgs = imageBuildArgs(env);
/** Built by tools/env/up.sh from Debian's prometheus and prometheus-alertmanager (lib/prometheus.sh). */
const PROMETHEUS_IMAGE = env['CONVEYOR_PROMETHEUS_IMAGE'];
const ALERTMANAGER_IMAGE = env['CONVEYOR_ALERTMANAGER_IMAGE'];

const ports = { backend: 0, prometheus: 0, stackPrometheus: 0, stackAlertmanager: 0 };

function localEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...env,
    LOCAL_REGISTRY_URL: env['CONVEYOR_TEST_REGISTRY'],
    REGISTRY_NS: ns,
    LOCAL_DEPLOY_PATH: host,
    LOCAL_COMPOSE_COMMAND: env['CONVEYOR_COMPOSE_COMMAND'],
    PROXY_IMAGE: env['CONVEYOR_PROXY_IMAGE'],
    // Ports come from the deploy targets (the app was generated with --backendPort); BACKEND_PORT
    // would override them for every project, the monitoring stack's Prometheus included.
    BACKEND_PORT: '',
    CONVEYOR_DEPLOYER: 'e2e',
    TELEGRAM_TOKEN: '',
    TELEGRAM_CHAT_ID: '',
    ...extra,
  };
}

function ok(ws: string, args: string[], extra: NodeJS.ProcessEnv = {}): Result {
  const r = nx(ws, [...args, '--outputStyle=static'], localEnv(extra));
  if (r.code !== 0) throw new Error(`nx ${args.join(' ')} failed:\n${r.output.slice(-8000)}`);
  return r;
}

function compose(dir: string, args: string[]): Result {
  const [cmd, ...rest] = env['CONVEYOR_COMPOSE_COMMAND'].split(' ');
  return sh(cmd, [...rest, ...args], { cwd: dir, env: { ...process.env, ...env } });
}

/**
 * The compose projects a deploy started under a folder, each with its name from the .env the
 * release wrote: the folder itself (recreate), and with blue-green the colours and the proxy that
 * owns the public ports.
 */
function composeProjects(dir: string): [string, string][] {
  const projects: [string, string][] = [];
  for (const folder of [dir, ...['blue', 'green', 'proxy'].map((c) => join(dir, c))]) {
    if (!existsSync(join(folder, 'docker-compose.yml'))) continue;
    const envFile = join(folder, '.env');
    const name = existsSync(envFile)
      ? /^COMPOSE_PROJECT_NAME=(.+)$/m.exec(readFileSync(envFile, 'utf8'))?.[1]
      : undefined;
    if (!name) throw new Error(`${envFile} names no COMPOSE_PROJECT_NAME`);
    projects.push([folder, name.trim()]);
  }
  return projects;
}

interface HostState {
  env?: string;
  strategy?: string;
  current?: { tag?: string; git_sha?: string; color?: string | null } | null;
  previous?: { tag?: string } | null;
}

interface HistoryEntry {
  at: string;
  action: string;
  result: string;
  tag?: string;
  from?: string;
  who?: string;
}

/** The release state the host helper keeps in the stack's folder. */
function hostState(dir: string): HostState {
  return JSON.parse(readFileSync(join(dir, '.conveyor/state.json'), 'utf8')) as HostState;
}

function hostHistory(dir: string): HistoryEntry[] {
  return readFileSync(join(dir, '.conveyor/history.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as HistoryEntry);
}

let prometheus: Prometheus | undefined;
function query(expr: string): Promise<Sample[]> {
  if (!prometheus) throw new Error('Prometheus is not started');
  return prometheus.query(expr);
}

/** What Prometheus says about its targets, for failure messages. */
async function targetsReport(): Promise<string> {
  try {
    const body = await getJson(`http://127.0.0.1:${ports.prometheus}/api/v1/targets`);
    return JSON.stringify(body['data'], null, 1).slice(0, 3000);
  } catch (e) {
    return String(e);
  }
}

/** Waits until the query returns at least one sample (or exactly none with `empty`). */
async function until(
  expr: string,
  what: string,
  timeoutMs = 60_000,
  empty = false,
): Promise<Sample[]> {
  try {
    return await waitFor(
      what,
      async () => {
        const result = await query(expr);
        return (empty ? result.length === 0 : result.length > 0) ? result : undefined;
      },
      timeoutMs,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}\ntargets: ${await targetsReport()}`);
  }
}

describe('monitoring: a real Prometheus scrapes a deployed app', () => {
  let ws: string;
  const sha: string[] = [];
  const appDir = join(host, APP);
  const stackDir = join(host, STACK);

  beforeAll(async () => {
    ports.backend = await freePort();
    ports.prometheus = await freePort();
    ports.stackPrometheus = await freePort();
    ports.stackAlertmanager = await freePort();
    ws = newWorkspace('monitoring');
    mustNx(ws, [
      'g',
      '@conveyor/plugin:app',
      APP,
      '--frontend=none',
      `--backendPort=${ports.backend}`,
      '--no-interactive',
    ]);
    mustNx(
      ws,
      [
        'g',
        '@conveyor/plugin:monitoring',
        '--environments=local',
        '--scrapeInterval=1s',
        '--evaluationInterval=1s',
        '--targetDownFor=2s',
        '--deploy',
        '--profile=local',
        `--project=${STACK}`,
        `--prometheusPort=${ports.stackPrometheus}`,
        `--alertmanagerPort=${ports.stackAlertmanager}`,
        '--no-interactive',
      ],
      localEnv(),
    );
  });

  afterAll(async () => {
    await prometheus?.stop();
    for (const [dir, project] of [...composeProjects(appDir), ...composeProjects(stackDir)]) {
      const down = compose(dir, ['--project-name', project, 'down', '-v']);
      if (down.code !== 0) console.warn(`compose down in ${dir} failed:\n${down.output}`);
    }
  });

  it('writes a scrape config that promtool accepts, pointed at the app', () => {
    const dir = join(ws, 'monitoring/prometheus');
    expect(must('promtool', ['check', 'config', 'prometheus.yml'], { cwd: dir }).output).toContain(
      'SUCCESS',
    );
    expect(
      must('promtool', ['check', 'rules', 'rules/conveyor.rules.yml'], { cwd: dir }).output,
    ).toContain('SUCCESS: 4 rules found');
    expect(parse(readFileSync(join(dir, `targets/${APP}.local.yml`), 'utf8'))).toEqual([
      { targets: [`localhost:${ports.backend}`], labels: { app: APP, env: 'local' } },
    ]);
  });

  it('Prometheus finds the build info, the requests and the deploy time of v1', async () => {
    sha.push(gitCommitAll(ws, 'v1'));
    ok(ws, ['run', `${APP}:build-push`, ...buildArgs]);
    const deployedFrom = Math.floor(Date.now() / 1000) - 2;
    ok(ws, ['run', `${APP}:deploy`]);

    prometheus = await startPrometheus(
      join(ws, 'monitoring/prometheus/prometheus.yml'),
      ports.prometheus,
    );

    for (let i = 0; i < 5; i++) {
      expect((await fetch(`http://127.0.0.1:${ports.backend}/health`)).status).toBe(200);
    }

    const [info] = await until(
      `${BUILD_INFO}{job="${APP}", git_sha="${sha[0]}"} == 1`,
      `${BUILD_INFO} of ${sha[0]}`,
    );
    expect(info.metric).toMatchObject({
      job: APP,
      app: APP,
      env: 'local',
      git_sha: sha[0],
      image_tag: sha[0],
      profile: 'local',
      version: sha[0],
      instance: `localhost:${ports.backend}`,
    });
    expect(await query(`up{job="${APP}"}`)).toEqual([
      expect.objectContaining({ value: [expect.any(Number), '1'] }),
    ]);

    const [requests] = await until(
      `sum(http_request_duration_seconds_count{job="${APP}", route="/health", status="200"}) >= 5`,
      'the /health requests',
    );
    expect(Number(requests.value[1])).toBeGreaterThanOrEqual(5);

    const [deployed] = await until(
      `conveyor_deploy_timestamp_seconds{job="${APP}", app="${APP}", env="local", tag="${sha[0]}"}`,
      'the deploy time',
    );
    const at = Number(deployed.value[1]);
    expect(at).toBeGreaterThanOrEqual(deployedFrom);
    expect(at).toBeLessThanOrEqual(Date.now() / 1000 + 1);
  });

  it('after deploying v2 the query shows the new sha, and the old one is gone', async () => {
    const file = join(ws, `apps/${APP}/backend/src/app.ts`);
    writeFileSync(file, readFileSync(file, 'utf8') + '\n// v2\n');
    sha.push(gitCommitAll(ws, 'v2'));
    ok(ws, ['run', `${APP}:build-push`, ...buildArgs]);
    ok(ws, ['run', `${APP}:deploy`]);

    const [info] = await until(
      `${BUILD_INFO}{job="${APP}", git_sha="${sha[1]}"} == 1`,
      `${BUILD_INFO} of ${sha[1]}`,
    );
    expect(info.metric).toMatchObject({ app: APP, env: 'local', image_tag: sha[1] });
    await until(
      `${BUILD_INFO}{job="${APP}", git_sha="${sha[0]}"}`,
      `${sha[0]} to go stale`,
      30_000,
      true,
    );
    // The colours' job scrapes the colour that serves v2 on its own port, labelled for a canary's query.
    const [colour] = await until(
      `${BUILD_INFO}{job="${APP}-colors", git_sha="${sha[1]}"} == 1`,
      `the colour of ${sha[1]} in job ${APP}-colors`,
    );
    expect(colour.metric).toMatchObject({ app: APP, env: 'local', host: 'local-1' });
    expect(['blue', 'green']).toContain(colour.metric['color']);
    await until(
      `conveyor_deploy_timestamp_seconds{job="${APP}", app="${APP}", env="local", tag="${sha[1]}"}`,
      'the deploy time of v2',
    );
    // The dashboard's deploy annotation: one value per release, the time it went live.
    const deploys = await query(
      `max by (app, env, tag) (max_over_time(conveyor_deploy_timestamp_seconds{app="${APP}"}[10m]))`,
    );
    expect(deploys.map((s) => s.metric['tag']).sort()).toEqual([...sha].sort());
  });

  it('ConveyorTargetDown fires when the app is stopped', async () => {
    const projects = composeProjects(appDir);
    expect(projects.length).toBeGreaterThan(0);
    for (const [dir, project] of projects) {
      const down = compose(dir, ['--project-name', project, 'down']);
      expect({ project, code: down.code, output: down.code === 0 ? '' : down.output }).toEqual({
        project,
        code: 0,
        output: '',
      });
    }
    const alert = await waitFor(
      'ConveyorTargetDown to fire',
      async () => {
        const body = await getJson(`http://127.0.0.1:${ports.prometheus}/api/v1/alerts`);
        const alerts = (
          body['data'] as { alerts: { labels: Record<string, string>; state: string }[] }
        ).alerts;
        return alerts.find(
          (a) => a.labels['alertname'] === 'ConveyorTargetDown' && a.state === 'firing',
        );
      },
      60_000,
    );
    expect(alert.labels).toMatchObject({
      alertname: 'ConveyorTargetDown',
      app: APP,
      env: 'local',
      job: APP,
      severity: 'critical',
    });
  });

  it('the generated stack passes ansible-playbook --syntax-check, ansible-lint and compose config', () => {
    const dir = join(ws, 'monitoring/infra/ansible');
    must('ansible-playbook', ['--syntax-check', '-i', 'inventory/local', 'playbook.yml'], {
      cwd: dir,
      env: { ...process.env, ANSIBLE_CONFIG: join(dir, 'ansible.cfg') },
    });
    const lint = sh('ansible-lint', ['--offline', 'playbook.yml'], { cwd: dir });
    expect({ code: lint.code, output: lint.code === 0 ? '' : lint.output }).toEqual({
      code: 0,
      output: '',
    });
    // The host helper does the release: no rollout tasks of the stack's own.
    expect(existsSync(join(dir, 'tasks'))).toBe(false);
    const config = must('docker-compose', ['-f', 'monitoring/docker-compose.yml', 'config'], {
      cwd: ws,
      env: {
        ...process.env,
        REGISTRY_URL: 'reg.example.com',
        REGISTRY_NS: 'acme',
        IMAGE_TAG: 'abc',
      },
    });
    expect(config.stdout).toContain(`reg.example.com/acme/${STACK}_backend:abc`);
  });

  const stackEnv = {
    TELEGRAM_TOKEN: telegramToken,
    TELEGRAM_CHAT_ID: '4242',
    // No Bot API here: the deploy notice only warns.
    TELEGRAM_API_URL: 'http://127.0.0.1:9',
    ALERTMANAGER_IMAGE,
    // The profile says blue-green (the apps above ran so); the stack's targets ask for recreate.
    LOCAL_DEPLOY_STRATEGY: 'blue-green',
  };
  const stackBase = () => `http://127.0.0.1:${ports.stackPrometheus}`;
  /**
   * The scrape interval the stack's Prometheus runs with. Retried for a few seconds: right after
   * a release replaced the container, this process's pooled keep-alive connection to the old one
   * fails once ("other side closed") although the new one is ready.
   */
  const scrapeInterval = () =>
    waitFor(
      "the stack's Prometheus config",
      async () => {
        const config = (await getJson(`${stackBase()}/api/v1/status/config`))['data'] as {
          yaml: string;
        };
        return parse(config.yaml).global.scrape_interval as string;
      },
      10_000,
    );
  /** A moment the deployed Prometheus has samples of (checked again after later releases). */
  let sampledAt = 0;

  it('the stack is built and deployed with the same executors; the token stays on the host', async () => {
    ok(ws, ['run', `${STACK}:build-push`, `--buildArgs.PROMETHEUS_IMAGE=${PROMETHEUS_IMAGE}`]);
    const out = ok(ws, ['run', `${STACK}:deploy`], stackEnv).output;
    expect(out).toContain(`deploy done: ${sha[1]} is live on local`);
    expect(out).not.toContain(telegramToken);

    const base = stackBase();
    const config = (await getJson(`${base}/api/v1/status/config`))['data'] as { yaml: string };
    expect(parse(config.yaml).scrape_configs.map((j: { job_name: string }) => j.job_name)).toEqual([
      APP,
      `${APP}-colors`,
    ]);
    const rules = (await getJson(`${base}/api/v1/rules`))['data'] as {
      groups: { rules: { name: string }[] }[];
    };
    expect(rules.groups.flatMap((g) => g.rules.map((r) => r.name))).toEqual([
      'ConveyorTargetDown',
      'ConveyorHighErrorRatio',
      'ConveyorHighLatencyP99',
      'ConveyorVersionMismatch',
    ]);

    const am = await getJson(`http://127.0.0.1:${ports.stackAlertmanager}/api/v2/status`);
    const amConfig = (am['config'] as { original: string }).original;
    expect(amConfig).toContain('telegram_configs');
    expect(amConfig).toContain('chat_id: 4242');
    expect(amConfig).not.toContain(telegramToken);
    const rendered = join(stackDir, 'alertmanager.yml');
    expect(readFileSync(rendered, 'utf8')).toContain(`bot_token: ${telegramToken}`);
    expect(statSync(rendered).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(ws, 'monitoring/alertmanager/alertmanager.yml'), 'utf8')).toContain(
      'bot_token: ${TELEGRAM_TOKEN}',
    );

    // The host helper's state and history, in the stack's own folder: replaced in place (the
    // local profile says blue-green, the stack runs recreate), no colours, no proxy.
    expect(hostState(stackDir)).toMatchObject({
      env: 'local',
      strategy: 'recreate',
      current: { tag: sha[1], color: null },
    });
    expect(composeProjects(stackDir).map(([dir]) => dir)).toEqual([stackDir]);
    for (const old of ['current', 'previous', 'releases.log', 'lock']) {
      expect({ old, exists: existsSync(join(stackDir, '.conveyor', old)) }).toEqual({
        old,
        exists: false,
      });
    }
    expect(hostHistory(stackDir)).toEqual([
      expect.objectContaining({ action: 'deploy', result: 'ok', tag: sha[1], who: 'e2e' }),
    ]);
    expect(readFileSync(join(stackDir, '.conveyor/history.jsonl'), 'utf8')).not.toContain(
      telegramToken,
    );

    const again = ok(ws, ['run', `${STACK}:deploy`], stackEnv).output;
    expect(again).toContain(`${sha[1]} is already live and healthy on local`);
    expect(hostHistory(stackDir).pop()).toMatchObject({ action: 'deploy', result: 'noop' });

    const status = ok(ws, ['run', `${STACK}:status`]).output;
    expect(status).toContain(`live:     ${sha[1]}`);
    expect(status).toContain('lock:     free');
    const history = ok(ws, ['run', `${STACK}:history`]).output;
    expect(history).toMatch(new RegExp(`deploy\\s+${sha[1]}\\s+ok`));

    sampledAt = await waitFor(
      'the stack to store a sample',
      async () => {
        const url = `${base}/api/v1/query?query=${encodeURIComponent(`up{job="${APP}"}`)}`;
        const result = ((await getJson(url))['data'] as { result: Sample[] }).result;
        return result.length > 0 ? Math.floor(Date.now() / 1000) : undefined;
      },
      30_000,
    );
  });

  it('a new stack release replaces the old in place, and rollback brings the previous config back', async () => {
    expect(await scrapeInterval()).toBe('1s');
    // The generator keeps its other options (nx.json); only the interval changes.
    mustNx(
      ws,
      ['g', '@conveyor/plugin:monitoring', '--scrapeInterval=2s', '--no-interactive'],
      localEnv(),
    );
    sha.push(gitCommitAll(ws, 'stack v3'));
    ok(ws, ['run', `${STACK}:build-push`, `--buildArgs.PROMETHEUS_IMAGE=${PROMETHEUS_IMAGE}`]);
    expect(ok(ws, ['run', `${STACK}:deploy`], stackEnv).output).toContain(
      `deploy done: ${sha[2]} is live on local (previous: ${sha[1]})`,
    );
    expect(await scrapeInterval()).toBe('2s');
    expect(hostState(stackDir)).toMatchObject({
      strategy: 'recreate',
      current: { tag: sha[2] },
      previous: { tag: sha[1] },
    });

    const back = ok(ws, ['run', `${STACK}:rollback`], stackEnv).output;
    expect(back).toContain(`rollback done: ${sha[1]} is live on local (previous: ${sha[2]})`);
    expect(back).not.toContain(telegramToken);
    expect(await scrapeInterval()).toBe('1s');
    expect(hostState(stackDir)).toMatchObject({
      current: { tag: sha[1] },
      previous: { tag: sha[2] },
    });
    expect(hostHistory(stackDir).slice(-2)).toEqual([
      expect.objectContaining({ action: 'deploy', result: 'ok', tag: sha[2], from: sha[1] }),
      expect.objectContaining({ action: 'rollback', result: 'ok', tag: sha[1], from: sha[2] }),
    ]);
    // Alertmanager still answers; Prometheus kept its data (a volume) through both replacements:
    // the samples the first release stored are still there.
    expect((await fetch(`http://127.0.0.1:${ports.stackAlertmanager}/-/ready`)).status).toBe(200);
    const url = `${stackBase()}/api/v1/query?query=${encodeURIComponent(`up{job="${APP}"}`)}&time=${sampledAt}`;
    expect(((await getJson(url))['data'] as { result: Sample[] }).result).not.toEqual([]);
  });
});
