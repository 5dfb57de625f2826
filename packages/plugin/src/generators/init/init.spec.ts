import { readNxJson, updateNxJson } from '@nx/devkit';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { envVarDocs } from '../../core/config/names';
import { parseProfile } from '../../core/config/profile';
import { initGenerator } from './init';

describe('init generator', () => {
  it('writes the three profiles as environment references', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await initGenerator(tree, {});
    for (const name of ['local', 'staging', 'production']) {
      expect(tree.exists(`config/profiles/${name}.yml`)).toBe(true);
    }
    const staging = tree.read('config/profiles/staging.yml', 'utf-8') ?? '';
    expect(parse(staging)).toMatchObject({
      registry: '${REGISTRY_URL}',
      registry_namespace: '${REGISTRY_NS}',
      ssh_host: '${STAGING_SSH_HOST}',
      ssh_user: '${STAGING_SSH_USER:-deploy}',
      ssh_port: '${STAGING_SSH_PORT:-22}',
      deploy_path: '${STAGING_DEPLOY_PATH:-/opt/conveyor}',
      compose_command: '${STAGING_COMPOSE_COMMAND:-docker compose}',
    });
    expect(tree.read('config/profiles/production.yml', 'utf-8')).toContain(
      '${PRODUCTION_SSH_HOST}',
    );
  });

  it('writes profiles the loader accepts', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await initGenerator(tree, {});
    const env = {
      REGISTRY_URL: 'r.example.com',
      REGISTRY_NS: 'acme',
      PRODUCTION_SSH_HOST: 'prod.example.com',
    };
    const prod = parseProfile(
      'production',
      'p.yml',
      tree.read('config/profiles/production.yml', 'utf-8') ?? '',
      env,
    );
    expect(prod).toMatchObject({
      ssh_host: 'prod.example.com',
      ssh_user: 'deploy',
      ssh_port: 22,
      connection: 'ssh',
    });
    const local = parseProfile(
      'local',
      'l.yml',
      tree.read('config/profiles/local.yml', 'utf-8') ?? '',
      {},
    );
    expect(local).toMatchObject({
      connection: 'local',
      registry: 'localhost:5000',
      registry_namespace: 'conveyor',
    });
  });

  it('lists every variable in env.example with a comment line', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await initGenerator(tree, {});
    const lines = (tree.read('env.example', 'utf-8') ?? '').split('\n');
    for (const v of envVarDocs()) {
      const at = lines.findIndex((l) => l.startsWith(`${v.name}=`));
      expect(at).toBeGreaterThan(0);
      expect(lines[at - 1]).toMatch(/^# \S/);
    }
    expect(lines.some((l) => l.startsWith('REGISTRY_PASS='))).toBe(true);
    expect(lines.some((l) => l.startsWith('PRODUCTION_SSH_KNOWN_HOSTS='))).toBe(true);
  });

  it('adds cache settings for the cacheable executors to nx.json', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await initGenerator(tree, {});
    const defaults = (readNxJson(tree)?.targetDefaults ?? {}) as Record<
      string,
      { inputs?: unknown[] }
    >;
    expect(defaults['@conveyor/plugin:metrics-inject']).toMatchObject({ cache: true });
    expect(defaults['@conveyor/plugin:metrics-inject'].inputs).toContainEqual({
      runtime: 'git rev-parse HEAD',
    });
    expect(defaults['@conveyor/plugin:deploy']).toMatchObject({ cache: false });
  });

  it('never makes build-push cacheable: its effect is in the registry, which the cache cannot see', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await initGenerator(tree, {});
    expect(readNxJson(tree)?.targetDefaults?.['@conveyor/plugin:build-push']).toEqual({
      cache: false,
      dependsOn: ['^build', '^metrics-inject'],
    });
  });

  it('turns the cache of build-push off in a workspace an earlier init made cache it, keeping the rest', async () => {
    const tree = createTreeWithEmptyWorkspace();
    const nxJson = readNxJson(tree) ?? {};
    nxJson.targetDefaults = {
      '@conveyor/plugin:build-push': { cache: true, dependsOn: ['^build', 'lint'] },
      '@conveyor/plugin:metrics-inject': { cache: false },
    };
    updateNxJson(tree, nxJson);
    await initGenerator(tree, {});
    const defaults = readNxJson(tree)?.targetDefaults ?? {};
    expect(defaults['@conveyor/plugin:build-push']).toEqual({
      cache: false,
      dependsOn: ['^build', 'lint'],
    });
    // A choice the executor's correctness does not depend on stays the workspace's.
    expect(defaults['@conveyor/plugin:metrics-inject']).toMatchObject({ cache: false });
  });

  describe('.gitignore', () => {
    /** What real git ignores among `paths` with this .gitignore. */
    function ignored(gitignore: string, paths: string[]): string[] {
      const dir = mkdtempSync(join(tmpdir(), 'conveyor-gitignore-'));
      try {
        execFileSync('git', ['init', '-q'], { cwd: dir });
        writeFileSync(join(dir, '.gitignore'), gitignore);
        let out = '';
        try {
          out = execFileSync('git', ['check-ignore', '--no-index', ...paths], {
            cwd: dir,
            encoding: 'utf8',
          });
        } catch (error) {
          // Exit 1: none of the paths is ignored.
          out = String((error as { stdout?: string }).stdout ?? '');
        }
        return out.split('\n').filter(Boolean);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const paths = [
      '.env',
      '.env.local',
      '.env.staging',
      'apps/shop/.env',
      'apps/shop/.env.staging',
      'env.example',
      '.env.example',
      'apps/shop/.env.staging.example',
      'src/main.ts',
    ];

    it('is created so git ignores .env and .env.* files, and not the *.example templates', async () => {
      const tree = createTreeWithEmptyWorkspace();
      tree.delete('.gitignore');
      await initGenerator(tree, {});
      const text = tree.read('.gitignore', 'utf-8') ?? '';
      expect(ignored(text, paths)).toEqual([
        '.env',
        '.env.local',
        '.env.staging',
        'apps/shop/.env',
        'apps/shop/.env.staging',
      ]);
    });

    it("is appended to, keeping the user's lines, and a second init changes nothing", async () => {
      const tree = createTreeWithEmptyWorkspace();
      tree.write('.gitignore', 'node_modules\n# mine\ndist');
      await initGenerator(tree, {});
      const once = tree.read('.gitignore', 'utf-8') ?? '';
      expect(once.startsWith('node_modules\n# mine\ndist\n')).toBe(true);
      expect(ignored(once, [...paths, 'node_modules/x', 'dist/a.js'])).toEqual([
        '.env',
        '.env.local',
        '.env.staging',
        'apps/shop/.env',
        'apps/shop/.env.staging',
        'node_modules/x',
        'dist/a.js',
      ]);
      await initGenerator(tree, {});
      expect(tree.read('.gitignore', 'utf-8')).toBe(once);
    });

    it('adds only the lines that are missing', async () => {
      const tree = createTreeWithEmptyWorkspace();
      tree.write('.gitignore', '.env\n');
      await initGenerator(tree, {});
      const lines = (tree.read('.gitignore', 'utf-8') ?? '').split('\n');
      expect(lines.filter((l) => l === '.env')).toHaveLength(1);
      expect(lines).toContain('.env.*');
    });

    it('env.example says .env is git-ignored and loaded by Nx', async () => {
      const tree = createTreeWithEmptyWorkspace();
      await initGenerator(tree, {});
      const header = (tree.read('env.example', 'utf-8') ?? '').split('\n').slice(0, 3).join('\n');
      expect(header).toContain('copy this file to .env');
      expect(header).toContain('Nx loads .env');
      expect(header).toContain('.env and .env.* are git-ignored');
    });
  });

  it('keeps a profile the user already changed', async () => {
    const tree = createTreeWithEmptyWorkspace();
    tree.write('config/profiles/staging.yml', 'registry: mine\n');
    await initGenerator(tree, {});
    expect(tree.read('config/profiles/staging.yml', 'utf-8')).toBe('registry: mine\n');
    expect(tree.exists('config/profiles/local.yml')).toBe(true);
  });
});
