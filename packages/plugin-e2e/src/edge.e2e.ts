/**
 * The host's edge (Caddy, compose project conveyor-edge) over the real sshd as the non-root deploy
 * user, with a real ACME CA (Pebble) that validates each name through a real HTTP-01 challenge
 * served by the edge. One app, staging and production on one host and one edge, each at its own
 * name: the first deploy of a name gets a certificate; HTTPS serves the release and HTTP
 * redirects; blue-green deploys and fast rollbacks under HTTPS keep-alive load fail no request;
 * a deploy of one environment never touches the other's traffic; a name has one owner; the
 * maintenance page goes on and off with the release running; a pull request's preview is
 * deployed at its own name, listed, pruned and destroyed without touching staging; a restarted
 * edge reuses its certificates.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certSerialAt, EdgeAt, plainHttpAt, viaEdgeAt } from './edge-client';
import { serverDir, stagingSshEnv } from './host';
import { Load, LoadStats, startLoad, switchedOnce } from './load';
import { Pebble, startPebble } from './pebble';
import { freePort } from './prometheus';
import {
  downApp,
  gitCommitAll,
  imageBuildArgs,
  mustNx,
  newWorkspace,
  nxAsync,
  portBlock,
  Result,
  sh,
  testEnv,
  waitFor,
} from './utils';

const env = testEnv();
const ns = `edge${Date.now().toString(36)}`;
const port = portBlock('edge');
const servers = { staging: serverDir('edge-staging'), production: serverDir('edge-production') };
const edgeDir = serverDir('edge');
const names = { staging: 'store.test', production: 'shop-prod.test', blog: 'blog.test' };
const PREVIEWS = 'preview.test';
const buildArgs = imageBuildArgs(env);
const withEngine = { ...process.env, ...env };

let pebble: Pebble;
let ports: { http: number; https: number };
let root = '';
let caRootFile = '';

type Env = 'staging' | 'production';
function profileEnv(which: Env, over: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const p = which === 'staging' ? 'STAGING' : 'PRODUCTION';
  const base = stagingSshEnv({
    ns,
    deployPath: servers[which],
    backendPort: which === 'staging' ? port : port + 20,
  });
  const ssh = Object.fromEntries(
    Object.entries(base)
      .filter(([k]) => k.startsWith('STAGING_'))
      .map(([k, v]) => [k.replace('STAGING_', `${p}_`), v]),
  );
  return {
    ...base,
    ...ssh,
    [`${p}_DEPLOY_STRATEGY`]: 'blue-green',
    // Long enough for a rollback right after a deploy to find the old colour still running.
    [`${p}_DRAIN_SECONDS`]: '60',
    // Staging's name comes from its profile; production's from the deploy target (see beforeAll).
    ...(which === 'staging'
      ? {
          STAGING_DOMAIN: names.staging,
          STAGING_PREVIEW_DOMAIN: PREVIEWS,
          STAGING_PREVIEW_PORTS: `${port + 40}-${port + 49}`,
        }
      : {}),
    ACME_EMAIL: 'ops@store.test',
    ACME_CA: pebble.directory,
    ACME_CA_ROOT: caRootFile,
    EDGE_PATH: edgeDir,
    EDGE_IMAGE: env['CONVEYOR_EDGE_IMAGE'],
    EDGE_HTTP_PORT: String(ports.http),
    EDGE_HTTPS_PORT: String(ports.https),
    ...over,
  };
}

async function nx(ws: string, which: Env, args: string[], over: NodeJS.ProcessEnv = {}) {
  return nxAsync(
    ws,
    [...args, `--configuration=${which}`, '--outputStyle=static'],
    profileEnv(which, over),
  );
}
async function ok(
  ws: string,
  which: Env,
  args: string[],
  over: NodeJS.ProcessEnv = {},
): Promise<Result> {
  const r = await nx(ws, which, args, over);
  if (r.code !== 0) throw new Error(`nx ${args.join(' ')} failed:\n${r.output.slice(-8000)}`);
  return r;
}

const edgeAt = (): EdgeAt => ({ ...ports, root });
const viaEdge = (name: string, path: string) => viaEdgeAt(edgeAt(), name, path);
const plainHttp = (name: string, path: string) => plainHttpAt(edgeAt(), name, path);
const certSerial = (name: string) => certSerialAt(edgeAt(), name);
const served = async (name: string) =>
  (JSON.parse((await viaEdge(name, '/api/metrics')).body) as { version: { image_tag: string } })
    .version.image_tag;
const httpsLoad = (name: string, retryClosedKeepAlive = false) =>
  startLoad(`https://127.0.0.1:${ports.https}/api/metrics`, 8, 300_000, {
    servername: name,
    ca: root,
    retryClosedKeepAlive,
  });
/** A load on a name that no release of its own changed: stopped, printed; none failed, one version. */
async function steady(what: string, load: Load, version: string): Promise<void> {
  const stats = await load.stop();
  report(what, stats);
  expect(stats.requests).toBeGreaterThan(100);
  expect(stats.failed).toBe(0);
  expect(stats.versions).toEqual([version]);
}
/** What a load saw, for the test's output (the failures by kind, the requests sent again). */
const report = (what: string, stats: LoadStats) =>
  process.stdout.write(
    `${what}: ${stats.requests} requests, ${stats.failed} failed ${JSON.stringify(stats.failures)}, ${stats.retried} sent again on a new connection\n`,
  );

describe('the edge: apps at their own names over HTTPS with certificates from a real ACME CA', () => {
  let ws: string;
  const sha: string[] = [];

  beforeAll(async () => {
    ports = { http: await freePort(), https: await freePort() };
    pebble = await startPebble(ports.http, ports.https);
    caRootFile = pebble.serverCertFile;
    root = await pebble.issuingRoot();
    ws = newWorkspace('edge');
    mustNx(ws, [
      'g',
      '@conveyor/plugin:app',
      'store',
      `--backendPort=${port}`,
      `--frontendPort=${port + 1}`,
      '--no-interactive',
    ]);
    mustNx(ws, [
      'g',
      '@conveyor/plugin:app',
      'blog',
      `--backendPort=${port + 60}`,
      `--frontendPort=${port + 61}`,
      '--no-interactive',
    ]);
    // Production's name and the second app's are their deploy targets' own (apps that share a
    // profile each take theirs).
    const nameOf = (app: string, configuration: string, domain: string) => {
      const projectFile = join(ws, `apps/${app}/project.json`);
      const project = JSON.parse(readFileSync(projectFile, 'utf8')) as {
        targets: { deploy: { configurations: Record<string, Record<string, unknown>> } };
      };
      project.targets.deploy.configurations[configuration] = {
        ...project.targets.deploy.configurations[configuration],
        domain,
      };
      writeFileSync(projectFile, JSON.stringify(project, null, 2));
    };
    nameOf('store', 'production', names.production);
    nameOf('blog', 'staging', names.blog);
    const file = join(ws, 'apps/store/backend/src/app.ts');
    const src = readFileSync(file, 'utf8');
    sha.push(gitCommitAll(ws, 'v1'));
    await ok(ws, 'staging', ['run', 'store:build-push', ...buildArgs]);
    writeFileSync(file, src.replace('ok: true,', "ok: true, release: 'v2',"));
    sha.push(gitCommitAll(ws, 'v2'));
    await ok(ws, 'staging', ['run', 'store:build-push', ...buildArgs]);
    await ok(ws, 'staging', ['run', 'blog:build-push', ...buildArgs]);
  });

  afterAll(async () => {
    for (const s of Object.values(servers)) downApp(join(s, 'store'), env);
    downApp(join(servers.staging, 'blog'), env);
    for (const n of [7, 8]) {
      const left = sh(
        'docker',
        ['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=store-pr-${n}`],
        { env: withEngine },
      )
        .stdout.split(/\s+/)
        .filter(Boolean);
      if (left.length) sh('docker', ['rm', '-f', ...left], { env: withEngine });
    }
    sh('docker', ['rm', '-f', 'conveyor-edge'], { env: withEngine });
    await pebble?.stop();
  });

  it('first deploy of a name: a certificate through a real HTTP-01 challenge, HTTPS serves the release, HTTP redirects', async () => {
    const r = await ok(ws, 'staging', ['run', 'store:deploy', `--tag=${sha[0]}`]);
    expect(r.output).toContain(`https://${names.staging} serves ${sha[0]}`);
    expect(pebble.issued()).toBe(1);
    expect(await served(names.staging)).toBe(sha[0]);
    const page = await viaEdge(names.staging, '/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<div id="root">');
    const redirect = await plainHttp(names.staging, '/api/metrics');
    expect(redirect.status).toBe(308);
    // Caddy redirects to the name on the default HTTPS port (443, where a real edge listens).
    expect(redirect.location).toBe(`https://${names.staging}/api/metrics`);
    // The certificate and its key stay on the host, the key readable by its owner alone.
    const keys = sh('find', [edgeDir, '-name', `${names.staging}.key`])
      .stdout.trim()
      .split('\n');
    expect(keys.length).toBe(1);
    expect(statSync(keys[0]).mode & 0o077).toBe(0);
    // The admin API is a unix socket inside the edge's own folder: no TCP port answers it.
    expect(readdirSync(join(edgeDir, 'run'))).toContain('admin.sock');
    expect(sh('ss', ['-ltnp']).stdout).not.toMatch(/:2019\b/);
  });

  it('blue-green deploy and fast rollback under HTTPS keep-alive load: 0 failed requests, the version changes once each', async () => {
    let load = httpsLoad(names.staging);
    await ok(ws, 'staging', ['run', 'store:deploy', `--tag=${sha[1]}`]);
    await new Promise((res) => setTimeout(res, 500));
    let stats = await load.stop();
    expect(stats.requests).toBeGreaterThan(100);
    expect(stats.failed).toBe(0);
    // One switch: requests in flight on the keep-alive connections may straddle it (as in zero-downtime.e2e).
    expect(stats.versions[stats.versions.length - 1]).toBe(sha[1]);
    expect(switchedOnce(stats.samples, sha[0], sha[1])).toEqual({
      firstIs: sha[0],
      oldAfterNewMs: true,
    });

    load = httpsLoad(names.staging);
    const back = await ok(ws, 'staging', ['run', 'store:rollback']);
    await new Promise((res) => setTimeout(res, 500));
    stats = await load.stop();
    expect(back.output).toContain('the proxy switched back');
    expect(stats.failed).toBe(0);
    expect(stats.versions[stats.versions.length - 1]).toBe(sha[0]);
    expect(switchedOnce(stats.samples, sha[1], sha[0])).toEqual({
      firstIs: sha[1],
      oldAfterNewMs: true,
    });
    expect(pebble.issued()).toBe(1);
  });

  it("production of the same app on the same edge at its own name; a name has one owner; a staging deploy never touches production's traffic", async () => {
    const taken = await nx(ws, 'production', [
      'run',
      'store:deploy',
      `--tag=${sha[1]}`,
      `--domain=${names.staging}`,
    ]);
    expect(taken.code).not.toBe(0);
    expect(taken.output).toContain(
      `${names.staging} is served on this host for store/staging; store/production cannot take it`,
    );
    await ok(ws, 'production', ['run', 'store:deploy', `--tag=${sha[1]}`]);
    expect(await served(names.production)).toBe(sha[1]);
    expect(pebble.issued()).toBe(2);

    const load = httpsLoad(names.production);
    await ok(ws, 'staging', ['run', 'store:deploy', `--tag=${sha[1]}`]);
    await new Promise((res) => setTimeout(res, 500));
    await steady('production while staging deployed', load, sha[1]);
    expect(await served(names.staging)).toBe(sha[1]);
  });

  it("a second app on the same host and edge at its own name: two deploys of the first under load on the second's name fail none of its requests", async () => {
    // The staging environment's BACKEND_PORT/FRONTEND_PORT are the first app's: the second's own.
    await ok(ws, 'staging', ['run', 'blog:deploy', `--tag=${sha[1]}`], {
      BACKEND_PORT: String(port + 60),
      FRONTEND_PORT: String(port + 61),
    });
    expect(await served(names.blog)).toBe(sha[1]);
    const load = httpsLoad(names.blog);
    await ok(ws, 'staging', ['run', 'store:deploy', `--tag=${sha[0]}`]);
    expect(await served(names.staging)).toBe(sha[0]);
    await ok(ws, 'staging', ['run', 'store:deploy', `--tag=${sha[1]}`]);
    await new Promise((res) => setTimeout(res, 500));
    await steady('the second app while the first deployed twice', load, sha[1]);
    expect(await served(names.staging)).toBe(sha[1]);
  });

  it('maintenance: the edge answers 503 with Retry-After for that name only, the release keeps running; off serves it again', async () => {
    const on = await ok(ws, 'production', ['run', 'store:maintenance', '--on']);
    expect(on.output).toContain(`${names.production}: maintenance on`);
    const page = await viaEdge(names.production, '/api/metrics');
    expect(page.status).toBe(503);
    expect(page.headers['retry-after']).toBe('60');
    expect(await served(names.staging)).toBe(sha[1]);
    const status = await ok(ws, 'production', ['run', 'store:status']);
    expect(status.output).toContain(`https://${names.production}:${ports.https} (MAINTENANCE`);
    await ok(ws, 'production', ['run', 'store:maintenance', '--off']);
    expect(await served(names.production)).toBe(sha[1]);
  });

  it('status names the domain and the certificate: issued by the ACME CA, with its expiry', async () => {
    const r = await ok(ws, 'staging', ['run', 'store:status']);
    expect(r.output).toContain(`domain:   https://${names.staging}:${ports.https}`);
    expect(r.output).toMatch(
      /certificate: issued by .*Pebble Intermediate CA.*, expires \w+ +\d+ [\d:]+ \d{4} GMT/,
    );
  });

  it("a pull request's preview: served at its own name with its own release, listed by status, an expired one pruned by the next preview deploy, destroyed; staging serves throughout", async () => {
    const pr = (n: number) => `pr-${n}.${PREVIEWS}`;
    const projects = (n: number) =>
      sh(
        'docker',
        ['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=store-pr-${n}`],
        {
          env: withEngine,
        },
      ).stdout.trim();
    // A name that comes or goes is a new config for the edge: Caddy then closes the idle keep-alive
    // connections of every name, which browsers and Go's client send again on a new one; so does
    // this load (counted, printed). A request that fails again is a failure.
    const load = httpsLoad(names.staging, true);
    const issued = pebble.issued();

    const seven = await ok(ws, 'staging', ['run', 'store:preview', '--pr=7', `--tag=${sha[0]}`]);
    expect(seven.output).toContain(`Preview of store for PR 7: https://${pr(7)}:${ports.https}`);
    expect(await served(pr(7))).toBe(sha[0]);
    expect(pebble.issued()).toBe(issued + 1);
    await ok(ws, 'staging', ['run', 'store:preview', '--pr=8', `--tag=${sha[1]}`]);
    expect(await served(pr(8))).toBe(sha[1]);
    const status = await ok(ws, 'staging', ['run', 'store:status']);
    expect(status.output).toContain(
      `preview pr-7: https://${pr(7)}:${ports.https} serves ${sha[0]}`,
    );
    expect(status.output).toContain(
      `preview pr-8: https://${pr(8)}:${ports.https} serves ${sha[1]}`,
    );
    // Its own folder, state and projects: staging's are not the preview's.
    expect(readdirSync(join(servers.staging, 'previews')).sort()).toEqual(['pr-7', 'pr-8']);
    expect(projects(7)).not.toBe('');

    // PR 8 is older than a one-second lifetime: the next preview deploy removes it.
    await new Promise((res) => setTimeout(res, 1500));
    const again = await nx(ws, 'staging', ['run', 'store:preview', '--pr=7', `--tag=${sha[1]}`], {
      STAGING_PREVIEW_TTL: '1s',
    });
    expect(again.code).toBe(0);
    expect(again.output).toContain('pr-8 is older than preview_ttl (1s): removing it.');
    expect(await served(pr(7))).toBe(sha[1]);
    expect(projects(8)).toBe('');
    await expect(served(pr(8))).rejects.toThrow();
    expect(readdirSync(join(servers.staging, 'previews'))).toEqual(['pr-7']);

    const gone = await ok(ws, 'staging', ['run', 'store:preview', '--pr=7', '--destroy']);
    expect(gone.output).toMatch(/pr-7 of store: removed \d+ containers, its name on the edge and /);
    expect(projects(7)).toBe('');
    expect(readdirSync(join(servers.staging, 'previews'))).toEqual([]);
    await expect(served(pr(7))).rejects.toThrow();
    const none = await ok(ws, 'staging', ['run', 'store:preview', '--prune']);
    expect(none.output).not.toContain('removing it');

    await new Promise((res) => setTimeout(res, 500));
    const stats = await load.stop();
    report('staging while previews came and went', stats);
    expect(stats.requests).toBeGreaterThan(100);
    expect(stats.non2xx).toBe(0);
    expect(stats.versions).toEqual([sha[1]]);
    // A known limit (README): a config load can also reset a connection the old config's server
    // accepted as it stopped (0 to 6 in 120,000 requests over five runs). Only such resets, and
    // at most one in 10,000 requests, pass.
    const other = Object.keys(stats.failures).filter((k) => !/^socket hang up|ECONNRESET/.test(k));
    expect(other).toEqual([]);
    expect(stats.failed).toBeLessThanOrEqual(stats.requests / 10_000);
  });

  it('a restarted edge reuses its certificates (no new order) and serves every name again', async () => {
    const issued = pebble.issued();
    sh('docker', ['restart', 'conveyor-edge'], { env: withEngine });
    for (const [which, name] of Object.entries(names))
      expect(
        await waitFor(
          `${which} through the restarted edge`,
          async () => served(name).catch(() => undefined),
          30_000,
        ),
      ).toBe(sha[1]);
    expect(pebble.issued()).toBe(issued);
  });

  it("renewal: with a window covering the certificate's whole life, the edge renews it on its own every minute, no deploy needed; the name serves throughout", async () => {
    // Pebble's certificates live five years: a renewal window of 1 (the whole life) puts staging's in it.
    const production = await certSerial(names.production);
    await ok(ws, 'staging', ['run', 'store:deploy', `--tag=${sha[0]}`], {
      ACME_RENEWAL_WINDOW: '1',
    });
    // A renewal the new config may start at once is let finish: what follows is the edge's own.
    await new Promise((res) => setTimeout(res, 5000));
    const load = httpsLoad(names.staging);
    const issued = pebble.issued();
    const first = await certSerial(names.staging);
    // No command from here: only the edge's own check (every minute) renews.
    const renewed = await waitFor(
      'the edge to renew on its own',
      async () => {
        const serial = await certSerial(names.staging).catch(() => first);
        return pebble.issued() > issued && serial !== first ? serial : undefined;
      },
      150_000,
    );
    expect(renewed).not.toBe(first);
    expect(await served(names.staging)).toBe(sha[0]);
    const stats = await load.stop();
    report('staging while its certificate renewed', stats);
    expect(stats.failed).toBe(0);
    // Production keeps the default window: its certificate is the one it got first.
    expect(await certSerial(names.production)).toBe(production);
  });
});
