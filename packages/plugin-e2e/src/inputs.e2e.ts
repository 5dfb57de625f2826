/**
 * What reaches Conveyor from outside, checked where it enters, in a real workspace: options Nx
 * passes (unknown ones refused), ports, the git remote, .env files, and a registry that changed
 * behind Nx's back.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  gitCommitAll,
  imageBuildArgs,
  localRegistryEnv,
  must,
  mustNx,
  newWorkspace,
  nx,
  registryTags,
  testEnv,
  writeFile,
} from './utils';

const env = testEnv();
const engine = env['CONVEYOR_CONTAINER_ENGINE'];
const ns = `e2einputs${Date.now().toString(36)}`;
const baseEnv = localRegistryEnv(env, ns);
const buildArgs = imageBuildArgs(env);
const registryApi = `http://${env['CONVEYOR_TEST_REGISTRY']}`;
// Colour codes Nx puts around task names.
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const MANIFEST_TYPES =
  'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

async function digestOf(repo: string, tag: string): Promise<string> {
  const res = await fetch(`${registryApi}/v2/${ns}/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: MANIFEST_TYPES },
  });
  return res.ok ? (res.headers.get('docker-content-digest') ?? '') : '';
}

/** Deletes a manifest (and so every tag on it) as a registry clean-up does. */
async function deleteManifest(repo: string, digest: string): Promise<void> {
  const res = await fetch(`${registryApi}/v2/${ns}/${repo}/manifests/${digest}`, {
    method: 'DELETE',
  });
  if (res.status !== 202) throw new Error(`DELETE ${repo}@${digest}: HTTP ${res.status}`);
}

const pluginSchema = (ws: string, kind: 'executors' | 'generators', name: string) => {
  const root = join(ws, 'node_modules/@conveyor/plugin');
  const collection = JSON.parse(readFileSync(join(root, `${kind}.json`), 'utf8'))[kind];
  return JSON.parse(readFileSync(join(root, collection[name].schema), 'utf8')) as {
    properties: Record<string, unknown>;
    additionalProperties?: boolean;
  };
};

describe('inputs in a real workspace', () => {
  let ws: string;

  beforeAll(() => {
    ws = newWorkspace('inputs');
    mustNx(ws, ['g', '@conveyor/plugin:app', 'shop', '--no-interactive'], baseEnv);
    gitCommitAll(ws, 'shop');
  });

  describe('options', () => {
    it('a misspelt generator option is refused by name, and nothing is written', () => {
      const r = nx(ws, ['g', '@conveyor/plugin:app', 'cart', '--databse=postgres'], baseEnv);
      expect(r.code).not.toBe(0);
      expect(r.output).toContain("'databse' is not found in schema");
      expect(existsSync(join(ws, 'apps/cart'))).toBe(false);
    });

    it('a misspelt executor option is refused by name before anything runs', () => {
      const r = nx(ws, ['run', 'shop:build-push', '--tga=v1', '--outputStyle=static'], baseEnv);
      expect(r.code).not.toBe(0);
      expect(r.output).toContain("'tga' is not found in schema");
      expect(r.output).not.toContain('build-push shop: tag');
    });

    it('every option the generated targets set (options and configurations) is in its executor schema', () => {
      mustNx(
        ws,
        ['g', '@conveyor/plugin:app', 'api', '--frontend=none', '--no-interactive'],
        baseEnv,
      );
      mustNx(ws, ['g', '@conveyor/plugin:monitoring', '--deploy', '--no-interactive'], baseEnv);
      const checked: string[] = [];
      for (const project of ['shop', 'shop-backend', 'api', 'api-backend', 'monitoring']) {
        const config = JSON.parse(
          mustNx(ws, ['show', 'project', project, '--json'], baseEnv).stdout.replace(/^[^{]*/, ''),
        ) as {
          targets: Record<
            string,
            {
              executor?: string;
              options?: Record<string, unknown>;
              configurations?: Record<string, Record<string, unknown>>;
            }
          >;
        };
        for (const [target, t] of Object.entries(config.targets)) {
          if (!t.executor?.startsWith('@conveyor/plugin:')) continue;
          const schema = pluginSchema(ws, 'executors', t.executor.split(':')[1]);
          expect(schema.additionalProperties).toBe(false);
          for (const [where, options] of [
            ['options', t.options ?? {}],
            ...Object.entries(t.configurations ?? {}),
          ] as [string, Record<string, unknown>][]) {
            const unknown = Object.keys(options).filter((k) => !(k in schema.properties));
            expect({ at: `${project}:${target} ${where}`, unknown }).toEqual({
              at: `${project}:${target} ${where}`,
              unknown: [],
            });
          }
          checked.push(`${project}:${target}`);
        }
      }
      expect(checked).toEqual(
        expect.arrayContaining([
          'shop:build-push',
          'shop:deploy',
          'shop:rollback',
          'shop-backend:metrics-inject',
          'api:deploy',
          'monitoring:build-push',
          'monitoring:deploy',
        ]),
      );
    });

    it('ports whose blue-green colour ports collide are refused, and nothing is written', () => {
      const r = nx(
        ws,
        ['g', '@conveyor/plugin:app', 'till', '--backendPort=8080', '--frontendPort=18080'],
        baseEnv,
      );
      expect(r.code).not.toBe(0);
      expect(r.output).toContain(
        "--backendPort=8080 --frontendPort=18080: Ports 8080 (backend) and 18080 (frontend) collide: the backend's blue port",
      );
      expect(existsSync(join(ws, 'apps/till'))).toBe(false);
    });
  });

  describe('.env files', () => {
    it('are git-ignored, so `git add -A` never commits SSH_KEY_B64; the example files are tracked', () => {
      writeFile(ws, '.env', 'SSH_KEY_B64=c2VjcmV0LWtleQ==\n');
      writeFile(ws, '.env.local', 'REGISTRY_PASS=secret\n');
      try {
        must('git', ['add', '-A'], { cwd: ws });
        const tracked = must('git', ['ls-files'], { cwd: ws }).stdout.split('\n');
        expect(tracked).not.toContain('.env');
        expect(tracked).not.toContain('.env.local');
        expect(tracked).toContain('env.example');
        expect(tracked).toContain('apps/shop/.env.staging.example');
        const gitignore = readFileSync(join(ws, '.gitignore'), 'utf8').split('\n');
        expect(gitignore).toEqual(expect.arrayContaining(['.env', '.env.*', '!.env*.example']));
      } finally {
        // Nx would load them into every later task of this workspace.
        must('git', ['rm', '-q', '--cached', '--ignore-unmatch', '.env', '.env.local'], {
          cwd: ws,
        });
        must('rm', ['-f', '.env', '.env.local'], { cwd: ws });
      }
    });
  });

  describe('build-push', () => {
    const token = 'ghp_E2eSecretToken0123456789';
    let record: Record<string, unknown>;
    let firstOutput = '';
    const readRecord = () =>
      JSON.parse(readFileSync(join(ws, 'dist/conveyor/shop/local.json'), 'utf8')) as Record<
        string,
        unknown
      >;

    beforeAll(() => {
      // A clone made with a token in its URL, as CI checkouts and some IDEs make them.
      must(
        'git',
        [
          'remote',
          'set-url',
          'origin',
          `https://ci:${token}@git.example.com/acme/shop.git?t=${token}`,
        ],
        { cwd: ws },
      );
      firstOutput = mustNx(
        ws,
        ['run', 'shop:build-push', ...buildArgs, '--outputStyle=static'],
        baseEnv,
      ).output;
      record = readRecord();
    });

    it('records the full sha of the commit it built', () => {
      const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ws, encoding: 'utf8' }).trim();
      expect(record['commit']).toBe(head);
      expect(head.startsWith(String(record['git_sha']))).toBe(true);
    });

    it("labels the image with the remote's URL without its credentials, and never prints them", () => {
      expect(firstOutput).not.toContain(token);
      const ref = `${env['CONVEYOR_TEST_REGISTRY']}/${ns}/shop_backend:${record['tag']}`;
      const labels = JSON.parse(
        must(engine, ['inspect', '--format', '{{json .Config.Labels}}', ref], { env: baseEnv })
          .stdout,
      ) as Record<string, string>;
      expect(labels['org.opencontainers.image.source']).toBe(
        'https://git.example.com/acme/shop.git',
      );
    });

    it('is not cached by Nx: after a registry clean-up removed the release, running it again puts it back', async () => {
      const tag = String(record['tag']);
      for (const repo of ['shop_backend', 'shop_frontend']) {
        await deleteManifest(repo, await digestOf(repo, tag));
        expect(await registryTags(env, ns, repo)).not.toContain(tag);
      }
      const out = mustNx(
        ws,
        ['run', 'shop:build-push', ...buildArgs, '--outputStyle=static'],
        baseEnv,
      ).output;
      // Its dependencies' builds may come from the cache; build-push itself runs.
      expect(out.replace(ANSI, '')).not.toMatch(
        /nx run shop:build-push[^\n]*\[(local cache|existing outputs match the cache)/,
      );
      expect(out).toContain('backend: building');
      for (const repo of ['shop_backend', 'shop_frontend']) {
        expect(await registryTags(env, ns, repo)).toContain(tag);
        expect(await digestOf(repo, tag)).not.toBe('');
      }
    });

    it('with the registry unchanged, a second run at the same commit re-tags in the registry and builds nothing', async () => {
      const out = mustNx(
        ws,
        ['run', 'shop:build-push', ...buildArgs, '--outputStyle=static'],
        baseEnv,
      ).output;
      expect(out).not.toContain(': building');
      expect(out).toContain('(unchanged: re-tagged, not rebuilt)');
      expect(readRecord()).toMatchObject({ tag: record['tag'], commit: record['commit'] });
    });
  });
});
