/**
 * Issue: build-push without a container engine. The generated Dockerfiles are a base image plus
 * files copied in: build-push assembles those images over the registry API (base layers mounted,
 * reproducible new layers). Real registries (open and with auth), real engine to run the results.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { serverDir } from './host';
import {
  downApp,
  e2eDir,
  gitCommitAll,
  localRegistryEnv,
  must,
  mustNx,
  newWorkspace,
  nx,
  portBlock,
  runApp,
  sh,
  testEnv,
  waitFor,
  writeFile,
} from './utils';

const env = testEnv();
const engine = env['CONVEYOR_CONTAINER_ENGINE'];
const registry = env['CONVEYOR_TEST_REGISTRY'];
const authRegistry = env['CONVEYOR_TEST_AUTH_REGISTRY'];
const run = Date.now().toString(36);
const ns = `asm${run}`;
const baseEnv = localRegistryEnv(env, ns);
const engineEnv = { ...process.env, ...env };
/** This run's own app name: never another workspace's compose projects on the shared host. */
const APP = runApp('shop');
/** The bases in the open registry: engine-less assembly reads them there. */
const bases = {
  node: `${registry}/base${run}/node:20`,
  web: `${registry}/base${run}/nginx:1`,
};
const assembleArgs = [
  `--buildArgs.NODE_IMAGE=${bases.node}`,
  `--buildArgs.WEB_IMAGE=${bases.web}`,
  '--outputStyle=static',
];
const ACCEPT =
  'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

function record(ws: string) {
  return JSON.parse(readFileSync(join(ws, `dist/conveyor/${APP}/local.json`), 'utf8'));
}

function authHeader(): string {
  const password = readFileSync(env['CONVEYOR_TEST_AUTH_REGISTRY_PASSWORD_FILE'], 'utf8').trim();
  return (
    'Basic ' +
    Buffer.from(`${env['CONVEYOR_TEST_AUTH_REGISTRY_USER']}:${password}`).toString('base64')
  );
}

async function manifestDigest(
  host: string,
  repo: string,
  ref: string,
  auth?: string,
): Promise<string> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, {
    method: 'HEAD',
    headers: { Accept: ACCEPT, ...(auth ? { Authorization: auth } : {}) },
  });
  return res.ok ? (res.headers.get('docker-content-digest') ?? '') : '';
}

interface Inspected {
  User: string;
  Entrypoint: string[] | null;
  Cmd: string[] | null;
  Env: string[];
  WorkingDir: string;
  ExposedPorts: Record<string, object>;
  Labels: Record<string, string>;
}

function inspectConfig(ref: string): Inspected {
  sh(engine, ['rmi', '-f', ref], { env: engineEnv });
  must(engine, ['pull', '-q', ref], { env: engineEnv });
  const config = JSON.parse(
    must(engine, ['image', 'inspect', '--format', '{{json .Config}}', ref], { env: engineEnv })
      .stdout,
  ) as Inspected;
  // The engine's own build stamp is not part of what the Dockerfile asks for.
  delete config.Labels?.['io.buildah.version'];
  return config;
}

const ports = portBlock('assemble');
let nextPort = ports;

async function runAndGet(ref: string, containerPort: number, path: string, extra: string[] = []) {
  const port = nextPort++;
  const name = `conveyor-asm-${run}-${port}`;
  must(
    engine,
    [
      'run',
      '-d',
      '--rm',
      '--name',
      name,
      '-p',
      `127.0.0.1:${port}:${containerPort}`,
      ...extra,
      ref,
    ],
    {
      env: engineEnv,
    },
  );
  try {
    return await waitFor(
      `${ref} answering ${path}`,
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}${path}`, {
          signal: AbortSignal.timeout(3000),
        });
        return { status: res.status, body: await res.text() };
      },
      30_000,
    );
  } finally {
    sh(engine, ['rm', '-f', name], { env: engineEnv });
  }
}

/** A PATH with every command of this one except the container engines. */
function pathWithoutEngines(): string {
  const dir = mkdtempSync(join(e2eDir(), 'no-engine-bin-'));
  for (const d of (process.env['PATH'] ?? '').split(':')) {
    if (!d || !existsSync(d)) continue;
    for (const name of readdirSync(d)) {
      if (/^(podman|docker)/.test(name) || existsSync(join(dir, name))) continue;
      symlinkSync(join(d, name), join(dir, name));
    }
  }
  return dir;
}

describe('build-push assembles images without an engine', () => {
  let ws: string;
  let sha: string;

  beforeAll(() => {
    for (const [local, remote] of [
      [env['CONVEYOR_NODE_IMAGE'], bases.node],
      [env['CONVEYOR_WEB_IMAGE'], bases.web],
    ]) {
      must(engine, ['tag', local, remote], { env: engineEnv });
      must(engine, ['push', '-q', remote], { env: engineEnv });
    }
    ws = newWorkspace('assemble');
    mustNx(ws, ['g', '@conveyor/plugin:app', APP, '--no-interactive'], baseEnv);
    sha = gitCommitAll(ws, 'shop');
  });

  it('assembles and pushes both images: base layers mounted, no engine build', async () => {
    const out = mustNx(ws, ['run', `${APP}:build-push`, ...assembleArgs], baseEnv).output;
    expect(out).toMatch(
      new RegExp(
        String.raw`backend: assembled \S+${APP}_backend:\S+ on \S+base\S+\/node:20 \(1 base layers mounted`,
      ),
    );
    expect(out).toMatch(
      new RegExp(
        String.raw`frontend: assembled \S+${APP}_frontend:\S+ on \S+\/nginx:1 \(1 base layers mounted`,
      ),
    );
    expect(out).not.toMatch(/(backend|frontend): building/);
    expect(out).not.toMatch(/engine (podman|docker)/);
    const rec = record(ws);
    expect(rec.images.backend).toMatchObject({ assembled: true, reused: false });
    expect(rec.images.backend.digest).toBe(
      await manifestDigest(registry, `${ns}/${APP}_backend`, sha),
    );
    expect(rec.images.frontend.digest).toBe(
      await manifestDigest(registry, `${ns}/${APP}_frontend`, rec.images.frontend.contentHash),
    );
  });

  it('two workspaces at the same commit push the same digest', async () => {
    const first = record(ws).images;
    // The second workspace is a clone of the same commit (same remote), built from scratch.
    const other = newWorkspace('assemble-clone');
    const origin = must('git', ['remote', 'get-url', 'origin'], { cwd: ws }).stdout.trim();
    must('git', ['init', '-q', '-b', 'main'], { cwd: other });
    must('git', ['remote', 'add', 'origin', origin], { cwd: other });
    must('git', ['fetch', '-q', ws, 'main'], { cwd: other });
    must('git', ['checkout', '-q', '-f', '-B', 'main', 'FETCH_HEAD'], { cwd: other });
    expect(must('git', ['rev-parse', '--short', 'HEAD'], { cwd: other }).stdout.trim()).toBe(sha);
    // Nothing to re-tag: the first workspace's manifests are deleted from the registry.
    for (const c of ['backend', 'frontend']) {
      const res = await fetch(
        `http://${registry}/v2/${ns}/${APP}_${c}/manifests/${first[c].digest}`,
        { method: 'DELETE' },
      );
      expect(res.status).toBe(202);
    }
    const out = mustNx(other, ['run', `${APP}:build-push`, ...assembleArgs], baseEnv).output;
    expect(out).toContain('backend: assembled');
    expect(out).toContain('frontend: assembled');
    const second = record(other).images;
    expect(second.backend.reused).toBe(false);
    expect(second.backend.digest).toBe(first.backend.digest);
    expect(second.frontend.digest).toBe(first.frontend.digest);
    expect(await manifestDigest(registry, `${ns}/${APP}_backend`, sha)).toBe(first.backend.digest);
  });

  it('the assembled images run as the engine-built ones do: same config, same /metrics', async () => {
    // The same commit built by the engine (--assemble=false), in a namespace of its own.
    const engineNs = `${ns}eng`;
    const out = mustNx(
      ws,
      ['run', `${APP}:build-push`, ...assembleArgs, '--assemble=false'],
      localRegistryEnv(env, engineNs),
    ).output;
    expect(out).toContain('backend: building');
    for (const c of ['backend', 'frontend']) {
      const assembled = inspectConfig(`${registry}/${ns}/${APP}_${c}:${sha}`);
      const built = inspectConfig(`${registry}/${engineNs}/${APP}_${c}:${sha}`);
      expect(assembled).toEqual(built);
    }
    const backend = inspectConfig(`${registry}/${ns}/${APP}_backend:${sha}`);
    expect(backend.User).toBe('65534:65534');
    expect(backend.Cmd).toEqual(['node', 'main.js']);
    expect(backend.Labels['org.opencontainers.image.revision']).toBe(sha);

    const a = await runAndGet(`${registry}/${ns}/${APP}_backend:${sha}`, 8080, '/metrics');
    const b = await runAndGet(`${registry}/${engineNs}/${APP}_backend:${sha}`, 8080, '/metrics');
    expect(a.status).toBe(200);
    const [ma, mb] = [JSON.parse(a.body), JSON.parse(b.body)];
    expect(ma['version']).toEqual({ git_sha: sha, image_tag: sha });
    expect(Object.keys(ma).sort()).toEqual(Object.keys(mb).sort());
    expect(ma['version']).toEqual(mb['version']);
    // nginx resolves its /api upstream at start: the compose service name, here the loopback.
    const page = await runAndGet(`${registry}/${ns}/${APP}_frontend:${sha}`, 80, '/', [
      '--add-host',
      'backend:127.0.0.1',
    ]);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<div id="root">');
  });

  it('against the registry with auth, with the base in another registry (its layers copied) and then in the same one (mounted)', async () => {
    const password = readFileSync(env['CONVEYOR_TEST_AUTH_REGISTRY_PASSWORD_FILE'], 'utf8').trim();
    const authEnv = {
      ...localRegistryEnv(env, `${ns}auth`),
      LOCAL_REGISTRY_URL: authRegistry,
      REGISTRY_USER: env['CONVEYOR_TEST_AUTH_REGISTRY_USER'],
      REGISTRY_PASS: password,
    };
    const out = mustNx(ws, ['run', `${APP}:build-push`, ...assembleArgs], authEnv).output;
    expect(out).toMatch(/backend: assembled \S+ on \S+ \(1 base layers copied from localhost:5055/);
    expect(out).not.toContain(password);
    expect(await manifestDigest(authRegistry, `${ns}auth/${APP}_backend`, sha, authHeader())).toBe(
      record(ws).images.backend.digest,
    );
    // Now the base in the auth registry itself (pushed there from the first run's repository).
    const sameEnv = { ...authEnv, REGISTRY_NS: `${ns}auth2` };
    const sameArgs = [
      `--buildArgs.NODE_IMAGE=${authRegistry}/${ns}auth/${APP}_backend:${sha}`,
      `--buildArgs.WEB_IMAGE=${authRegistry}/${ns}auth/${APP}_frontend:${sha}`,
      '--outputStyle=static',
    ];
    const again = mustNx(ws, ['run', `${APP}:build-push`, ...sameArgs], sameEnv).output;
    expect(again).toMatch(
      new RegExp(
        String.raw`backend: assembled \S+ on \S+ \(3 base layers mounted from \S+auth\/${APP}_backend`,
      ),
    );
    expect(again).not.toContain('copied');
  });

  it('with no container engine on the machine, build-push still pushes', async () => {
    const app = join(ws, `apps/${APP}/backend/src/main.ts`);
    writeFile(
      ws,
      `apps/${APP}/backend/src/main.ts`,
      readFileSync(app, 'utf8') + "\nprocess.env['BUILT_WITHOUT_ENGINE'] ??= 'yes';\n",
    );
    const sha2 = gitCommitAll(ws, 'backend change');
    const noEngine: NodeJS.ProcessEnv = { ...baseEnv, PATH: pathWithoutEngines() };
    delete noEngine['CONVEYOR_CONTAINER_ENGINE'];
    delete noEngine['DOCKER_HOST'];
    expect(
      sh('sh', ['-c', 'command -v podman docker || echo none'], { env: noEngine }).stdout.trim(),
    ).toBe('none');
    const out = mustNx(ws, ['run', `${APP}:build-push`, ...assembleArgs], noEngine).output;
    expect(out).toContain('backend: assembled');
    expect(out).toContain('(unchanged: re-tagged, not rebuilt)');
    expect(await manifestDigest(registry, `${ns}/${APP}_backend`, sha2)).toBe(
      record(ws).images.backend.digest,
    );
    expect(await manifestDigest(registry, `${ns}/${APP}_frontend`, sha2)).not.toBe('');

    // What needs an engine says why, in one line, and fails clearly without one.
    const local = nx(
      ws,
      [
        'run',
        `${APP}:build-push`,
        `--buildArgs.NODE_IMAGE=${env['CONVEYOR_NODE_IMAGE']}`,
        `--buildArgs.WEB_IMAGE=${bases.web}`,
        '--outputStyle=static',
      ],
      noEngine,
    );
    expect(local.code).not.toBe(0);
    expect(local.output).toContain(
      `backend: built by the engine: the base ${env['CONVEYOR_NODE_IMAGE']} is an image of the local engine`,
    );
    expect(local.output).toContain('No container engine answers');
  });

  it('a Dockerfile with RUN goes through the engine, and says so in one line', () => {
    const dockerfile = join(ws, `apps/${APP}/frontend/Dockerfile`);
    const original = readFileSync(dockerfile, 'utf8');
    writeFile(ws, `apps/${APP}/frontend/Dockerfile`, original + 'RUN true\n');
    try {
      const out = mustNx(ws, ['run', `${APP}:build-push`, ...assembleArgs], baseEnv).output;
      expect(out).toMatch(
        new RegExp(
          String.raw`frontend: built by the engine: apps\/${APP}\/frontend\/Dockerfile line \d+: RUN needs a container`,
        ),
      );
      expect(out).toContain('frontend: building');
    } finally {
      writeFile(ws, `apps/${APP}/frontend/Dockerfile`, original);
    }
  });

  it('assembled images deploy over SSH and serve their release', async () => {
    const server = serverDir('assemble');
    const backendPort = ports + 150;
    const stagingEnv: NodeJS.ProcessEnv = {
      ...process.env,
      ...env,
      REGISTRY_URL: registry,
      REGISTRY_NS: `${ns}stg`,
      STAGING_SSH_HOST: env['CONVEYOR_TEST_SSH_HOST'],
      STAGING_SSH_PORT: env['CONVEYOR_TEST_SSH_PORT'],
      STAGING_SSH_USER: env['CONVEYOR_TEST_SSH_USER'],
      STAGING_SSH_KNOWN_HOSTS: readFileSync(env['CONVEYOR_TEST_SSH_KNOWN_HOSTS'], 'utf8'),
      SSH_KEY_B64: readFileSync(env['CONVEYOR_TEST_SSH_KEY']).toString('base64'),
      STAGING_DEPLOY_PATH: server,
      STAGING_COMPOSE_COMMAND: env['CONVEYOR_COMPOSE_COMMAND'],
      BACKEND_PORT: String(backendPort),
      FRONTEND_PORT: String(backendPort + 1),
      PROXY_IMAGE: env['CONVEYOR_PROXY_IMAGE'],
      STAGING_DRAIN_SECONDS: '1',
    };
    const head = must('git', ['rev-parse', '--short', 'HEAD'], { cwd: ws }).stdout.trim();
    try {
      const pushed = mustNx(
        ws,
        ['run', `${APP}:build-push`, '--configuration=staging', ...assembleArgs],
        stagingEnv,
      ).output;
      expect(pushed).toContain('backend: assembled');
      expect(pushed).toContain('frontend: assembled');
      mustNx(
        ws,
        ['run', `${APP}:deploy`, '--configuration=staging', '--outputStyle=static'],
        stagingEnv,
      );
      const metrics = await waitFor(
        'the deployed backend',
        async () => (await fetch(`http://127.0.0.1:${backendPort}/metrics`)).json(),
        30_000,
      );
      expect((metrics as { version: unknown }).version).toEqual({ git_sha: head, image_tag: head });
      const page = await fetch(`http://127.0.0.1:${backendPort + 1}/`);
      expect(page.status).toBe(200);
    } finally {
      downApp(join(server, APP), env);
    }
  });

  afterAll(() => {
    for (const ref of Object.values(bases)) sh(engine, ['rmi', '-f', ref], { env: engineEnv });
  });
});
