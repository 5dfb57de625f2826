import {
  addProjectConfiguration,
  logger,
  readProjectConfiguration,
  Tree,
  updateProjectConfiguration,
} from '@nx/devkit';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { combineOptionsForGenerator } from 'nx/src/utils/params';
import { appGenerator } from '../app/app';
import { databaseGenerator } from './database';
import schema from './schema.json';

const app = (tree: Tree, extra: Record<string, unknown> = {}) =>
  appGenerator(tree, { name: 'shop', skipInstall: true, skipFormat: true, ...extra });
const database = (tree: Tree, extra: Record<string, unknown> = {}) =>
  databaseGenerator(tree, { app: 'shop', skipInstall: true, skipFormat: true, ...extra });

/** Every file of the tree that differs from an empty workspace: path -> content. */
function files(tree: Tree): Record<string, string> {
  return Object.fromEntries(
    tree
      .listChanges()
      .filter((c) => c.type !== 'DELETE')
      .map((c) => [c.path, c.content?.toString('utf-8') ?? ''])
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

/** `app shop` then `database shop`, and `app shop --database=postgres`, on the same options. */
async function both(options: Record<string, unknown>) {
  const added = createTreeWithEmptyWorkspace();
  await app(added, options);
  await database(added);
  const generated = createTreeWithEmptyWorkspace();
  await app(generated, { ...options, database: 'postgres' });
  return { added, generated };
}

describe('database generator', () => {
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    jest.spyOn(logger, 'info').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  it.each([
    ['with a frontend', {}],
    ['without a frontend', { frontend: 'none' }],
    ['other ports and folder', { directory: 'services', backendPort: 9000, frontendPort: 4000 }],
  ])(
    'app then database gives the tree of app --database=postgres (%s): files, project.json targets, package.json, recipe',
    async (_, options) => {
      const { added, generated } = await both(options);
      expect(files(added)).toEqual(files(generated));
      for (const project of ['shop', 'shop-backend']) {
        expect(readProjectConfiguration(added, project).targets).toEqual(
          readProjectConfiguration(generated, project).targets,
        );
      }
      expect(warn).not.toHaveBeenCalled();
    },
  );

  it('adds the database parts: files, targets, dependencies and the recipe', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await app(tree);
    const before = files(tree);
    await database(tree);
    const after = files(tree);
    const changed = Object.keys(after).filter((p) => before[p] !== after[p]);
    expect(changed.sort()).toEqual(
      [
        'apps/shop/DEPLOY_STAGING.md',
        'apps/shop/backend/Dockerfile',
        'apps/shop/backend/README.md',
        'apps/shop/backend/migrations/1700000000000_create-notes.sql',
        'apps/shop/backend/project.json',
        'apps/shop/backend/src/app.ts',
        'apps/shop/backend/src/db.ts',
        'apps/shop/backend/src/main.ts',
        'apps/shop/backend/src/migrate.ts',
        'apps/shop/backend/src/notes.spec.ts',
        'apps/shop/backend/src/notes.ts',
        'apps/shop/conveyor.json',
        'apps/shop/dev-db.url',
        'apps/shop/docker-compose.dev-db.yml',
        'apps/shop/e2e/src/app.spec.ts',
        'apps/shop/frontend/src/App.tsx',
        'apps/shop/frontend/src/Notes.spec.tsx',
        'apps/shop/frontend/src/Notes.tsx',
        'apps/shop/project.json',
        'package.json',
      ].sort(),
    );
    expect(JSON.parse(after['apps/shop/conveyor.json']).options.database).toBe('postgres');
    const deploy = readProjectConfiguration(tree, 'shop').targets?.['deploy']?.options;
    expect(deploy.secrets).toEqual(['DATABASE_URL']);
    expect(deploy.migrations).toBe('apps/shop/backend/migrations');
    expect(Object.keys(JSON.parse(after['package.json']).dependencies)).toEqual(
      expect.arrayContaining(['pg', 'node-pg-migrate']),
    );
  });

  it('knows a generated file that a formatter changed since (--skipFormat or not, any configuration)', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await app(tree);
    const page = 'apps/shop/frontend/src/App.tsx';
    // As Prettier with { singleQuote: false, tabWidth: 4, trailingComma: 'all' } would change it.
    const formatted = (tree.read(page, 'utf-8') ?? '')
      .replace(/'/g, '"')
      .replace(/^( +)/gm, '$1$1')
      .replace(
        'err instanceof Error ? err.message : String(err) });',
        'err instanceof Error ? err.message : String(err), });',
      );
    tree.write(page, formatted);
    await database(tree);
    expect(tree.read(page, 'utf-8')).toContain('<Notes />');
    expect(warn).not.toHaveBeenCalled();
  });

  it('leaves a page the user changed as it is and says where <Notes /> goes', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await app(tree);
    const page = 'apps/shop/frontend/src/App.tsx';
    const mine = (tree.read(page, 'utf-8') ?? '').replace('<h1>', '<h1 className="title">');
    tree.write(page, mine);
    await database(tree);
    expect(tree.read(page, 'utf-8')).toBe(mine);
    expect(tree.exists('apps/shop/frontend/src/Notes.tsx')).toBe(true);
    const lines = warn.mock.calls.map((c) => String(c[0]));
    expect(lines).toEqual([expect.stringContaining(`${page} was changed since it was generated`)]);
    expect(lines[0]).toContain('render `<Notes />`');
    // The rest is added as usual.
    expect(tree.read('apps/shop/backend/src/main.ts', 'utf-8')).toContain('createPool()');
  });

  it("keeps the user's secrets and targets, adding its own; a target it cannot merge is named", async () => {
    const tree = createTreeWithEmptyWorkspace();
    await app(tree);
    const deploy = readProjectConfiguration(tree, 'shop');
    deploy.targets!['deploy'].options.secrets = ['API_KEY'];
    updateProjectConfiguration(tree, 'shop', deploy);
    const backend = readProjectConfiguration(tree, 'shop-backend');
    backend.targets!['build'].options.command += ' --minify';
    updateProjectConfiguration(tree, 'shop-backend', backend);
    await database(tree);
    expect(readProjectConfiguration(tree, 'shop').targets?.['deploy'].options.secrets).toEqual([
      'API_KEY',
      'DATABASE_URL',
    ]);
    const targets = readProjectConfiguration(tree, 'shop-backend').targets ?? {};
    expect(targets['build'].options.command).toContain('--minify');
    expect(targets['serve'].dependsOn).toContain('migrate');
    expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([
      expect.stringMatching(/^shop-backend:build was changed since it was generated.*migrate\.ts/),
    ]);
  });

  describe('refuses, naming why, and writes nothing', () => {
    it.each([
      [
        'an unknown app',
        async () => undefined,
        { app: 'nope' },
        /No project named "nope".*Conveyor apps here: shop\./,
      ],
      [
        'a project that is not a Conveyor app',
        async (tree: Tree) => addProjectConfiguration(tree, 'lib', { root: 'libs/lib' }),
        { app: 'lib' },
        /Project "lib" is not a Conveyor app/,
      ],
      [
        'a project of an app',
        async () => undefined,
        { app: 'shop-backend' },
        /run nx g @conveyor\/plugin:database shop\./,
      ],
      [
        'an app that has a database',
        async (tree: Tree) => app(tree, { name: 'memo', database: 'postgres' }),
        { app: 'memo' },
        /App "memo" already has a database \(it was generated with --database=postgres\)/,
      ],
      [
        'an app whose files are in the way',
        async (tree: Tree) => tree.write('apps/shop/backend/src/notes.ts', 'export {};\n'),
        {},
        /These files exist already.*apps\/shop\/backend\/src\/notes\.ts/,
      ],
      [
        'another database',
        async () => undefined,
        { database: 'mysql' },
        /--database must be one of postgres, got "mysql"/,
      ],
    ])('%s', async (_, setUp, options, message) => {
      const tree = createTreeWithEmptyWorkspace();
      await app(tree);
      await setUp(tree);
      const before = files(tree);
      await expect(database(tree, options)).rejects.toThrow(message);
      expect(files(tree)).toEqual(before);
    });

    it('an app that was given a database by the generator already', async () => {
      const tree = createTreeWithEmptyWorkspace();
      await app(tree);
      await database(tree);
      await expect(database(tree)).rejects.toThrow(/App "shop" already has a database/);
    });
  });

  describe('its schema, as `nx g` applies it', () => {
    const options = (argv: Parameters<typeof combineOptionsForGenerator>[0]) =>
      combineOptionsForGenerator(
        argv,
        '@conveyor/plugin',
        'database',
        { version: 2, projects: {} },
        {},
        schema as Parameters<typeof combineOptionsForGenerator>[5],
        false,
        null,
        '',
        false,
      );

    it('takes the app as its first argument, postgres by default', async () => {
      expect(await options({ _: ['shop'] })).toEqual({
        app: 'shop',
        database: 'postgres',
        skipFormat: false,
        skipInstall: false,
      });
    });

    it('refuses an option it does not have (additionalProperties: false), such as --databse', async () => {
      // Nx rejects with its SchemaError, which is no Error subclass: its message is compared.
      await expect(options({ _: ['shop'], databse: 'postgres' })).rejects.toHaveProperty(
        'message',
        "'databse' is not found in schema",
      );
      await expect(options({ _: ['shop'], database: 'mysql' })).rejects.toHaveProperty(
        'message',
        expect.stringContaining('mysql'),
      );
    });
  });
});
