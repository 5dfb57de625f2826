/**
 * Deploys to several hosts: three inventory hosts, each its own deploy folder, ports and compose
 * projects, reached over the real sshd as the non-root deploy user. They share this machine's
 * loopback and its one container engine (separate network namespaces would not separate the
 * engine's published ports), which is why each host sets its own ports and project prefix.
 * Rolling in batches "1, 100%" under load: 0 failed requests; a release that fails on the second
 * batch brings every host back to the release it had, and the hosts never touched keep serving
 * with 0 failed requests.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cutSsh, poll } from './faults-lib';
import { join } from 'node:path';
import { serverDir, stagingSshEnv, writeFleetInventory } from './host';
import { startLoad, switchedOnce } from './load';
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
  waitFor,
} from './utils';

const env = testEnv();
const ns = `fleet${Date.now().toString(36)}`;
const base = portBlock('fleet');
const hosts = [0, 1, 2].map((i) => ({
  name: `staging-${i + 1}`,
  dir: serverDir(`fleet-${i + 1}`),
  port: base + i * 2,
}));
const buildArgs = imageBuildArgs(env);

const stagingEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...stagingSshEnv({ ns, deployPath: hosts[0].dir, backendPort: hosts[0].port }),
  STAGING_DRAIN_SECONDS: '20',
  STAGING_ROLLOUT_BATCHES: '1, 100%',
  ...extra,
});

async function nx(ws: string, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Result> {
  return nxAsync(ws, [...args, '--outputStyle=static'], stagingEnv(extra));
}
async function ok(ws: string, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Result> {
  const r = await nx(ws, args, extra);
  if (r.code !== 0) throw new Error(`nx ${args.join(' ')} failed:\n${r.output.slice(-8000)}`);
  return r;
}
const version = async (port: number) =>
  ((await getJson(`http://127.0.0.1:${port}/metrics`))['version'] as { image_tag: string })
    .image_tag;

describe('deploys to three hosts', () => {
  let ws: string;
  const sha: string[] = [];

  beforeAll(async () => {
    ws = newWorkspace('fleet');
    mustNx(ws, ['g', '@conveyor/plugin:app', 'fleet', '--no-interactive']);
    writeFleetInventory(
      ws,
      'fleet',
      hosts.map((h, i) => ({
        name: h.name,
        vars: {
          conveyor_compose_project: `fleet-${h.name}`,
          // The first host's folder and ports are the profile's.
          ...(i === 0
            ? {}
            : {
                conveyor_deploy_path: h.dir,
                conveyor_backend_port: h.port,
                conveyor_frontend_port: h.port + 1,
              }),
        },
      })),
    );
    // The backend learns the host port it is published on (to fail v3 on some hosts only).
    const compose = join(ws, 'apps/fleet/docker-compose.staging.yml');
    writeFileSync(
      compose,
      readFileSync(compose, 'utf8').replace(
        /(\n {4}environment:\n)/,
        '$1      HOST_PORT: ${BACKEND_PORT:-}\n',
      ),
    );
    const file = join(ws, 'apps/fleet/backend/src/app.ts');
    const src = readFileSync(file, 'utf8');
    sha.push(gitCommitAll(ws, 'v1'));
    await ok(ws, ['run', 'fleet:build-push', '--configuration=staging', ...buildArgs]);
    writeFileSync(file, src.replace('ok: true,', "ok: true, release: 'v2',"));
    sha.push(gitCommitAll(ws, 'v2'));
    await ok(ws, ['run', 'fleet:build-push', '--configuration=staging', ...buildArgs]);
    // v3 answers /health on the first host's colour ports only: its gate fails on the others.
    const firstHost = [hosts[0].port + 10000, hosts[0].port + 20000].map(String);
    const v3 = src.replace(
      /app\.get\('\/health'.*\n/,
      `app.get('/health', async (_req, reply) => reply.code(${JSON.stringify(firstHost)}.includes(process.env['HOST_PORT'] ?? '') ? 200 : 500).send({}));\n`,
    );
    expect(v3).not.toBe(src);
    writeFileSync(file, v3);
    sha.push(gitCommitAll(ws, 'v3 fails on staging-2 and 3'));
    await ok(ws, ['run', 'fleet:build-push', '--configuration=staging', ...buildArgs]);
    await ok(ws, ['run', 'fleet:deploy', '--configuration=staging', `--tag=${sha[0]}`]);
    for (const h of hosts) expect(await version(h.port)).toBe(sha[0]);
  });

  afterAll(() => {
    for (const h of hosts) downApp(join(h.dir, 'fleet'), env);
  });

  it('a rolling deploy in batches reaches every host with 0 failed requests', async () => {
    const loads = hosts.map((h) => startLoad(`http://127.0.0.1:${h.port}/metrics`, 4));
    const r = await ok(ws, ['run', 'fleet:deploy', '--configuration=staging', `--tag=${sha[1]}`]);
    await new Promise((res) => setTimeout(res, 1000));
    const stats = await Promise.all(loads.map((l) => l.stop()));
    expect(r.output).toContain('batch 1/2 (staging-1)');
    expect(r.output).toContain('batch 2/2 (staging-2, staging-3)');
    for (const [i, s] of stats.entries()) {
      // One switch per host (a response in flight at the switch may complete after a new one).
      expect({
        host: hosts[i].name,
        failed: s.failed,
        last: s.versions[s.versions.length - 1],
        ...switchedOnce(s.samples, sha[0], sha[1]),
      }).toEqual({
        host: hosts[i].name,
        failed: 0,
        last: sha[1],
        firstIs: sha[0],
        oldAfterNewMs: true,
      });
    }
    const status = await nx(ws, ['run', 'fleet:status', '--configuration=staging']);
    expect(status.code).toBe(0);
    expect(status.output.match(new RegExp(`live: +${sha[1]}`, 'g'))).toHaveLength(3);
  });

  it('a release failing on the second batch: every host is back on the release it had', async () => {
    const r = await nx(ws, [
      'run',
      'fleet:deploy',
      '--configuration=staging',
      `--tag=${sha[2]}`,
      '--healthTimeout=8',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(
      /staging-[23]: deploy of \w+ failed \(backend did not answer \/health/,
    );
    expect(r.output).toContain('Every host is back on the release it had');
    expect(r.output).toContain(`staging-1: back on ${sha[1]}`);
    for (const h of hosts) expect(await version(h.port)).toBe(sha[1]);
    const status = await nx(ws, ['run', 'fleet:status', '--configuration=staging']);
    expect(status.code).toBe(0);
  });

  it('the environment takes one lock: a second deploy while one runs changes no host and names the holder', async () => {
    // A wait between the batches keeps the first deploy holding the lock while the second asks.
    const first = nx(ws, ['run', 'fleet:deploy', '--configuration=staging', `--tag=${sha[0]}`], {
      STAGING_ROLLOUT_WAIT: '20',
    });
    const holder = join(hosts[2].dir, 'fleet/.conveyor/lock/holder.json');
    await waitFor(
      "the first deploy's hold on the last host",
      async () =>
        existsSync(holder) && readFileSync(holder, 'utf8').includes('"hold"') ? true : undefined,
      90_000,
    );
    const second = await nx(ws, [
      'run',
      'fleet:deploy',
      '--configuration=staging',
      `--tag=${sha[1]}`,
      '--lockTimeout=1',
    ]);
    const done = await first;
    // Its output when it failed: what went wrong, in the test's report.
    expect(done.code === 0 ? '' : done.output.slice(-6000)).toBe('');
    expect(second.code).not.toBe(0);
    expect(second.output).toMatch(/The lock of staging-\d is held by e2e \(hold\)/);
    expect(second.output).toContain('no host was changed');
    for (const h of hosts) expect(await version(h.port)).toBe(sha[0]);
  });

  it("one host's SSH connection cut mid-release: every host ends on one release, and the message says which", async () => {
    const runs = join(hosts[1].dir, 'fleet/.conveyor/runs');
    const earlier = new Set(readdirSync(runs));
    const deploy = nx(ws, ['run', 'fleet:deploy', '--configuration=staging', `--tag=${sha[1]}`], {
      STAGING_ROLLOUT_BATCHES: '100%',
    });
    // Cut once the release runs on staging-2 (its new colour is starting).
    await poll(
      "staging-2's release to start its new colour",
      () =>
        readdirSync(runs)
          .filter((f) => f.endsWith('.log') && !earlier.has(f))
          .some((f) => readFileSync(join(runs, f), 'utf8').includes('"phase": "start"')) ||
        undefined,
      120_000,
    );
    expect(cutSsh(join(hosts[1].dir, 'fleet')).length).toBeGreaterThan(0);
    const r = await deploy;
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('staging-2 gave no result: waiting for its release to end there');
    expect(r.output).toContain('Every host is back on the release it had');
    for (const h of hosts) expect(r.output).toContain(`${h.name}: back on ${sha[0]}`);
    for (const h of hosts) expect(await version(h.port)).toBe(sha[0]);
    const status = await nx(ws, ['run', 'fleet:status', '--configuration=staging']);
    expect(status.output.match(new RegExp(`live: +${sha[0]}`, 'g'))).toHaveLength(3);
  });
});
