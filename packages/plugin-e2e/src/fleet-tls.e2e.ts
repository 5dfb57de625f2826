/**
 * A fleet behind one name over HTTPS: two inventory hosts, each with its own edge (they share
 * this machine, so each edge has its own container, folder and ports), one name, a real ACME CA
 * (Pebble) that validates the HTTP-01 challenge on the second host's edge. The first host obtains
 * the certificate; the second passes the CA's challenge on to it, and each deploy brings it the
 * first host's certificate. One order for the name, both hosts serve it; a renewal on the first
 * host reaches the second at the next deploy, with no new release needed.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certSerialAt, EdgeAt, plainHttpAt, viaEdgeAt } from './edge-client';
import { serverDir, stagingSshEnv, writeFleetInventory } from './host';
import { startLoad } from './load';
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
const ns = `fltls${Date.now().toString(36)}`;
const base = portBlock('fleet-tls');
const NAME = 'fleet.test';
const hosts = [0, 1].map((i) => ({
  name: `web-${i + 1}`,
  dir: serverDir(`fleet-tls-${i + 1}`),
  port: base + i * 2,
  edge: { name: `conveyor-edge-fleet-${i + 1}`, dir: serverDir(`fleet-tls-edge-${i + 1}`) },
}));
const buildArgs = imageBuildArgs(env);

let pebble: Pebble;
const edges: EdgeAt[] = [];
let caRootFile = '';

const stagingEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...stagingSshEnv({ ns, deployPath: hosts[0].dir, backendPort: hosts[0].port }),
  STAGING_DOMAIN: NAME,
  STAGING_DRAIN_SECONDS: '20',
  STAGING_ROLLOUT_BATCHES: '100%',
  ACME_EMAIL: 'ops@fleet.test',
  ACME_CA: pebble.directory,
  ACME_CA_ROOT: caRootFile,
  EDGE_IMAGE: env['CONVEYOR_EDGE_IMAGE'],
  ...extra,
});
async function nx(ws: string, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Result> {
  return nxAsync(
    ws,
    [...args, '--configuration=staging', '--outputStyle=static'],
    stagingEnv(extra),
  );
}
async function ok(ws: string, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Result> {
  const r = await nx(ws, args, extra);
  if (r.code !== 0) throw new Error(`nx ${args.join(' ')} failed:\n${r.output.slice(-8000)}`);
  return r;
}
const served = async (edge: EdgeAt) =>
  (JSON.parse((await viaEdgeAt(edge, NAME, '/metrics')).body) as { version: { image_tag: string } })
    .version.image_tag;

describe('a fleet behind one name: one host obtains the certificate, the deploy brings it to the others', () => {
  let ws: string;
  const sha: string[] = [];

  beforeAll(async () => {
    for (let i = 0; i < hosts.length; i++)
      edges.push({ http: await freePort(), https: await freePort(), root: '' });
    // The CA validates on the second host's edge: the first host's certificate needs its challenge passed on.
    pebble = await startPebble(edges[1].http, edges[1].https);
    caRootFile = pebble.serverCertFile;
    const root = await pebble.issuingRoot();
    for (const e of edges) e.root = root;
    ws = newWorkspace('fleet-tls');
    mustNx(ws, ['g', '@conveyor/plugin:app', 'web', '--frontend=none', '--no-interactive']);
    writeFleetInventory(
      ws,
      'web',
      hosts.map((h, i) => ({
        name: h.name,
        vars: {
          conveyor_compose_project: `web-${h.name}`,
          conveyor_deploy_path: h.dir,
          conveyor_backend_port: h.port,
          conveyor_edge_name: h.edge.name,
          conveyor_edge_path: h.edge.dir,
          conveyor_edge_http_port: edges[i].http,
          conveyor_edge_https_port: edges[i].https,
        },
      })),
    );
    const file = join(ws, 'apps/web/backend/src/app.ts');
    const src = readFileSync(file, 'utf8');
    sha.push(gitCommitAll(ws, 'v1'));
    await ok(ws, ['run', 'web:build-push', ...buildArgs]);
    expect(src).toContain('ok: true,');
    writeFileSync(file, src.replace('ok: true,', "ok: true, release: 'v2',"));
    sha.push(gitCommitAll(ws, 'v2'));
    await ok(ws, ['run', 'web:build-push', ...buildArgs]);
  });

  afterAll(async () => {
    for (const h of hosts) downApp(join(h.dir, 'web'), env);
    sh('docker', ['rm', '-f', ...hosts.map((h) => h.edge.name)], {
      env: { ...process.env, ...env },
    });
    await pebble?.stop();
  });

  it("first deploy: web-1 obtains the certificate through a challenge that reached web-2's edge; both serve it over HTTPS", async () => {
    const r = await ok(ws, ['run', 'web:deploy', `--tag=${sha[0]}`]);
    expect(r.output).toContain(
      `web-1 obtains the certificate of ${NAME} first; the other hosts pass the CA's challenges on to it.`,
    );
    expect(r.output).toContain('batch 1/2 (web-1)');
    expect(r.output).toContain('batch 2/2 (web-2)');
    expect(pebble.issued()).toBe(1);
    for (const e of edges) {
      expect(await served(e)).toBe(sha[0]);
      const plain = await plainHttpAt(e, NAME, '/health');
      expect([plain.status, plain.location?.startsWith(`https://${NAME}`)]).toEqual([308, true]);
    }
    const [one, two] = await Promise.all(edges.map((e) => certSerialAt(e, NAME)));
    expect(two).toBe(one);
    // web-2's copy: the edge's files, the deploy user's only; neither the key nor the certificate printed.
    const copy = join(hosts[1].edge.dir, 'conf/certs', `${NAME}.key`);
    expect(statSync(copy).mode & 0o777).toBe(0o600);
    const key = readFileSync(copy, 'utf8');
    expect(key).toContain('PRIVATE KEY');
    expect(r.output).not.toContain(key.trim().split('\n')[1]);
    expect(r.output).not.toContain('BEGIN CERTIFICATE');
  });

  it('a deploy under HTTPS load on both hosts: 0 failed requests, no new certificate', async () => {
    const loads = edges.map((e) =>
      startLoad(`https://127.0.0.1:${e.https}/metrics`, 4, 300_000, {
        servername: NAME,
        ca: e.root,
      }),
    );
    await ok(ws, ['run', 'web:deploy', `--tag=${sha[1]}`]);
    const stats = await Promise.all(loads.map((l) => l.stop()));
    for (const s of stats) {
      expect(s.requests).toBeGreaterThan(100);
      expect(s.failed).toBe(0);
      expect(s.versions[s.versions.length - 1]).toBe(sha[1]);
    }
    expect(pebble.issued()).toBe(1);
  });

  it('a renewal on web-1 (no deploy needed there) reaches web-2 with the next deploy, even of the live release', async () => {
    const before = await certSerialAt(edges[0], NAME);
    // Pebble's certificates live five years: a renewal window of 1 (the whole life) puts web-1's in it.
    await ok(ws, ['run', 'web:deploy', `--tag=${sha[1]}`], { ACME_RENEWAL_WINDOW: '1' });
    const renewed = await waitFor(
      "web-1's edge to renew on its own",
      async () => {
        const serial = await certSerialAt(edges[0], NAME).catch(() => before);
        return serial !== before ? serial : undefined;
      },
      240_000,
    );
    expect(await certSerialAt(edges[1], NAME)).toBe(before);
    expect(renewed).not.toBe(before);
    const r = await ok(ws, ['run', 'web:deploy', `--tag=${sha[1]}`]);
    expect(r.output).toContain('is already live and healthy');
    expect(r.output).toMatch(/web-2 .*loading the name's new certificate/);
    // web-1 may have renewed again meanwhile (the window is its whole life): web-2 has a new one.
    expect(await certSerialAt(edges[1], NAME)).not.toBe(before);
    expect(await served(edges[1])).toBe(sha[1]);
  });
});
