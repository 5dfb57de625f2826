/**
 * The host's edge (Caddy, compose project conveyor-edge) over the real sshd as the non-root deploy
 * user, with a real ACME CA (Pebble) that validates each name through a real HTTP-01 challenge
 * served by the edge. One app, staging and production on one host and one edge, each at its own
 * name: the first deploy of a name gets a certificate; HTTPS serves the release and HTTP
 * redirects; blue-green deploys and fast rollbacks under HTTPS keep-alive load fail no request;
 * a deploy of one environment never touches the other's traffic; a name has one owner; the
 * maintenance page goes on and off with the release running; a restarted edge reuses its
 * certificates.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import { join } from 'node:path';
import { serverDir, stagingSshEnv } from './host';
import { startLoad, switchedOnce } from './load';
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
const names = { staging: 'store.test', production: 'shop-prod.test' };
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
    ...(which === 'staging' ? { STAGING_DOMAIN: names.staging } : {}),
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
async function ok(ws: string, which: Env, args: string[]): Promise<Result> {
  const r = await nx(ws, which, args);
  if (r.code !== 0) throw new Error(`nx ${args.join(' ')} failed:\n${r.output.slice(-8000)}`);
  return r;
}

/** GET https://<name>:<edge port><path> sent to 127.0.0.1, the certificate checked against Pebble's root. */
function viaEdge(
  name: string,
  path: string,
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    https
      .get(
        {
          host: '127.0.0.1',
          port: ports.https,
          path,
          servername: name,
          headers: { Host: name },
          ca: root,
          timeout: 5000,
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        },
      )
      .on('error', reject);
  });
}
function plainHttp(name: string, path: string): Promise<{ status: number; location?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(
        { host: '127.0.0.1', port: ports.http, path, headers: { Host: name }, timeout: 5000 },
        (res) => {
          res.resume();
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, location: res.headers.location }),
          );
        },
      )
      .on('error', reject);
  });
}
const served = async (name: string) =>
  (JSON.parse((await viaEdge(name, '/api/metrics')).body) as { version: { image_tag: string } })
    .version.image_tag;
const httpsLoad = (name: string) =>
  startLoad(`https://127.0.0.1:${ports.https}/api/metrics`, 8, 300_000, {
    servername: name,
    ca: root,
  });

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
    // Production's name is the deploy target's own (apps that share a profile each take theirs).
    const projectFile = join(ws, 'apps/store/project.json');
    const project = JSON.parse(readFileSync(projectFile, 'utf8')) as {
      targets: { deploy: { configurations: Record<string, Record<string, unknown>> } };
    };
    project.targets.deploy.configurations['production'] = {
      ...project.targets.deploy.configurations['production'],
      domain: names.production,
    };
    writeFileSync(projectFile, JSON.stringify(project, null, 2));
    const file = join(ws, 'apps/store/backend/src/app.ts');
    const src = readFileSync(file, 'utf8');
    sha.push(gitCommitAll(ws, 'v1'));
    await ok(ws, 'staging', ['run', 'store:build-push', ...buildArgs]);
    writeFileSync(file, src.replace('ok: true,', "ok: true, release: 'v2',"));
    sha.push(gitCommitAll(ws, 'v2'));
    await ok(ws, 'staging', ['run', 'store:build-push', ...buildArgs]);
  });

  afterAll(async () => {
    for (const s of Object.values(servers)) downApp(join(s, 'store'), env);
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
    const stats = await load.stop();
    expect(stats.requests).toBeGreaterThan(100);
    expect(stats.failed).toBe(0);
    expect(stats.versions).toEqual([sha[1]]);
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

  it('a restarted edge reuses its certificates (no new order) and serves every name again', async () => {
    sh('docker', ['restart', 'conveyor-edge'], { env: withEngine });
    for (const [which, name] of Object.entries(names))
      expect(
        await waitFor(
          `${which} through the restarted edge`,
          async () => served(name).catch(() => undefined),
          30_000,
        ),
      ).toBe(sha[1]);
    expect(pebble.issued()).toBe(2);
  });
});
