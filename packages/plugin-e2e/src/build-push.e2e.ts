/**
 * Issue: image pipeline. Real engine (Podman or Docker), real registry: build-push tags with the
 * git sha, pushes, records; an unchanged image is re-tagged in the registry, never rebuilt.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  getJson,
  gitCommitAll,
  imageBuildArgs,
  localRegistryEnv,
  must,
  mustNx,
  newWorkspace,
  nx,
  portBlock,
  registryTags,
  sh,
  testEnv,
  waitFor,
  writeFile,
} from './utils';

// Colour codes Nx puts around task names.
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const env = testEnv();
const engine = env['CONVEYOR_CONTAINER_ENGINE'];
const ns = `e2e${Date.now().toString(36)}`;
const baseEnv = localRegistryEnv(env, ns);
const buildArgs = imageBuildArgs(env);
const registryApi = `http://${env['CONVEYOR_TEST_REGISTRY']}`;

const tags = (repo: string) => registryTags(env, ns, repo);

async function digest(repo: string, tag: string): Promise<string> {
  const res = await fetch(`${registryApi}/v2/${ns}/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      Accept:
        'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
    },
  });
  return res.headers.get('docker-content-digest') ?? '';
}

function record(ws: string) {
  return JSON.parse(readFileSync(join(ws, 'dist/conveyor/shop/local.json'), 'utf8'));
}

describe('build-push against a real engine and registry', () => {
  let ws: string;
  let sha1: string;

  beforeAll(() => {
    ws = newWorkspace('build-push');
    mustNx(ws, ['g', '@conveyor/plugin:app', 'shop', '--no-interactive'], baseEnv);
    sha1 = gitCommitAll(ws, 'shop');
  });

  it('pushes both images tagged with the short sha; the pulled backend reports that sha', async () => {
    const out = mustNx(
      ws,
      ['run', 'shop:build-push', ...buildArgs, '--outputStyle=static'],
      baseEnv,
    ).output;
    expect(out).toContain(`tag ${sha1}`);
    expect(await tags('shop_backend')).toContain(sha1);
    expect(await tags('shop_frontend')).toContain(sha1);
    const rec = record(ws);
    expect(rec).toMatchObject({
      app: 'shop',
      profile: 'local',
      tag: sha1,
      git_sha: sha1,
      pushed: true,
    });
    expect(rec.images.backend.digest).toBe(await digest('shop_backend', sha1));

    const ref = `${env['CONVEYOR_TEST_REGISTRY']}/${ns}/shop_backend:${sha1}`;
    sh(engine, ['rmi', '-f', ref], { env: baseEnv });
    must(engine, ['pull', ref], { env: baseEnv });
    const labels = must(engine, ['inspect', '--format', '{{json .Config.Labels}}', ref], {
      env: baseEnv,
    }).stdout;
    expect(JSON.parse(labels)).toMatchObject({
      'org.opencontainers.image.revision': sha1,
      'org.opencontainers.image.version': sha1,
    });
    const port = portBlock('build-push');
    const name = `conveyor-e2e-${ns}`;
    must(engine, ['run', '-d', '--rm', '--name', name, '-p', `127.0.0.1:${port}:8080`, ref], {
      env: baseEnv,
    });
    try {
      const metrics = await waitFor(
        'the backend container',
        () => getJson(`http://127.0.0.1:${port}/metrics`),
        30_000,
      );
      expect(metrics['version']).toEqual({ git_sha: sha1, image_tag: sha1 });
    } finally {
      sh(engine, ['rm', '-f', name], { env: baseEnv });
    }
  });

  it('a second run at the same commit builds nothing: each image is found by its content and only re-tagged', async () => {
    const before = record(ws);
    const tagsBefore = await tags('shop_backend');
    const out = mustNx(
      ws,
      ['run', 'shop:build-push', ...buildArgs, '--outputStyle=static'],
      baseEnv,
    ).output.replace(ANSI, '');
    // build-push is not cached by Nx (its effect is in the registry): it runs, and finds both images.
    expect(out).not.toMatch(/nx run shop:build-push[^\n]*\[(local cache|existing outputs)/);
    expect(out).toContain('(unchanged: re-tagged, not rebuilt)');
    expect(out).not.toContain('(built and pushed)');
    const after = record(ws);
    expect(after.tag).toBe(before.tag);
    expect(after.images.backend?.digest).toBe(before.images.backend?.digest);
    expect(after.images.frontend?.digest).toBe(before.images.frontend?.digest);
    expect(await tags('shop_backend')).toEqual(tagsBefore);
  });

  it('after a frontend-only commit, the backend is re-tagged, not rebuilt, and both images have the new tag', async () => {
    const app = join(ws, 'apps/shop/frontend/src/App.tsx');
    writeFile(
      ws,
      'apps/shop/frontend/src/App.tsx',
      readFileSync(app, 'utf8').replace('</main>', '<p>v2</p></main>'),
    );
    const sha2 = gitCommitAll(ws, 'frontend only');
    const out = mustNx(
      ws,
      ['run', 'shop:build-push', ...buildArgs, '--outputStyle=static'],
      baseEnv,
    ).output;
    const rec = record(ws);
    expect(rec.tag).toBe(sha2);
    expect(rec.images.backend.reused).toBe(true);
    expect(rec.images.frontend.reused).toBe(false);
    expect(out).not.toContain('backend: building');
    expect(out).toContain('frontend: building');
    expect(await tags('shop_backend')).toEqual(expect.arrayContaining([sha1, sha2]));
    expect(await tags('shop_frontend')).toEqual(expect.arrayContaining([sha1, sha2]));
    expect(await digest('shop_backend', sha2)).toBe(await digest('shop_backend', sha1));
    expect(await digest('shop_frontend', sha2)).not.toBe(await digest('shop_frontend', sha1));
  });

  it('a tag of digits only (a short sha can be one) is pushed as typed, leading zero and all', async () => {
    // Nx's argument parser makes numbers of such values (2980737) or drops their leading zero.
    for (const tag of ['0980737', '2980737']) {
      const out = mustNx(
        ws,
        ['run', 'shop:build-push', ...buildArgs, `--tag=${tag}`, '--outputStyle=static'],
        baseEnv,
      ).output;
      expect(out).toContain(`tag ${tag},`);
      expect(record(ws).tag).toBe(tag);
      expect(await tags('shop_backend')).toContain(tag);
    }
  });

  describe('errors are clear and nothing is reported pushed', () => {
    const fail = (extraEnv: NodeJS.ProcessEnv, args: string[] = []) => {
      const r = nx(
        ws,
        [
          'run',
          'shop:build-push',
          ...buildArgs,
          '--skip-nx-cache',
          '--outputStyle=static',
          ...args,
        ],
        { ...baseEnv, ...extraEnv },
      );
      expect(r.code).not.toBe(0);
      return r.output;
    };

    it('registry unreachable', () => {
      expect(fail({ LOCAL_REGISTRY_URL: '127.0.0.1:9' })).toContain(
        'Registry 127.0.0.1:9 is unreachable',
      );
    });

    it('login refused, and the password never printed', () => {
      const out = fail({
        LOCAL_REGISTRY_URL: env['CONVEYOR_TEST_AUTH_REGISTRY'],
        REGISTRY_USER: 'conveyor',
        REGISTRY_PASS: 'wrong-password-e2e',
      });
      expect(out).toContain('refused the login for user "conveyor"');
      expect(out).not.toContain('wrong-password-e2e');
    });

    it('a registry that needs a login, with the right password: pushed, and the password never printed', async () => {
      const password = readFileSync(
        env['CONVEYOR_TEST_AUTH_REGISTRY_PASSWORD_FILE'],
        'utf8',
      ).trim();
      const r = mustNx(
        ws,
        ['run', 'shop:build-push', ...buildArgs, '--skip-nx-cache', '--outputStyle=static'],
        {
          ...baseEnv,
          LOCAL_REGISTRY_URL: env['CONVEYOR_TEST_AUTH_REGISTRY'],
          REGISTRY_USER: env['CONVEYOR_TEST_AUTH_REGISTRY_USER'],
          REGISTRY_PASS: password,
        },
      );
      expect(r.output).not.toContain(password);
      const auth =
        'Basic ' +
        Buffer.from(`${env['CONVEYOR_TEST_AUTH_REGISTRY_USER']}:${password}`).toString('base64');
      const list = await fetch(
        `http://${env['CONVEYOR_TEST_AUTH_REGISTRY']}/v2/${ns}/shop_backend/tags/list`,
        { headers: { Authorization: auth } },
      );
      expect(((await list.json()) as { tags: string[] }).tags).toContain(record(ws).tag);
    });

    it('engine not running, when an image needs it', () => {
      // Unchanged images are only re-tagged, which needs no engine: a new Dockerfile needs a build.
      const dockerfile = join(ws, 'apps/shop/backend/Dockerfile');
      const original = readFileSync(dockerfile, 'utf8');
      writeFile(ws, 'apps/shop/backend/Dockerfile', original + '# engine check\n');
      try {
        const out = fail({
          CONVEYOR_CONTAINER_ENGINE: 'docker',
          DOCKER_HOST: 'unix:///nonexistent/docker.sock',
        });
        expect(out).toMatch(/Container engine "docker" is (not running|not installed)/);
      } finally {
        writeFile(ws, 'apps/shop/backend/Dockerfile', original);
      }
    });

    it('build failure shows the build log and pushes no tag', async () => {
      const dockerfile = join(ws, 'apps/shop/backend/Dockerfile');
      const original = readFileSync(dockerfile, 'utf8');
      writeFile(
        ws,
        'apps/shop/backend/Dockerfile',
        original.replace('COPY main.js ./', 'COPY main.js ./\nRUN exit 42'),
      );
      try {
        const out = fail({ IMAGE_TAG: 'broken-build' });
        expect(out).toContain('Building the backend image');
        expect(out).toMatch(/exit 42|exit status 42|returned a non-zero code: 42/);
        expect(await tags('shop_backend')).not.toContain('broken-build');
      } finally {
        writeFile(ws, 'apps/shop/backend/Dockerfile', original);
      }
    });

    it('no git repository and no IMAGE_TAG', () => {
      const bare = newWorkspace('no-git');
      mustNx(
        bare,
        ['g', '@conveyor/plugin:app', 'shop', '--skipInstall', '--no-interactive'],
        baseEnv,
      );
      rmSync(join(bare, '.git'), { recursive: true, force: true });
      const r = nx(bare, ['run', 'shop:build-push', ...buildArgs, '--outputStyle=static'], baseEnv);
      expect(r.code).not.toBe(0);
      expect(r.output).toContain('not a git repository');
    });
  });
});
