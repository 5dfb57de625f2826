import { readProjectConfiguration, Tree, writeJson } from '@nx/devkit';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { parse } from 'yaml';
import { appGenerator } from './app';

const gen = (tree: Tree, extra: Record<string, unknown> = {}) =>
  appGenerator(tree, { name: 'shop', skipInstall: true, skipFormat: true, ...extra });

describe('app generator', () => {
  let tree: Tree;
  beforeEach(() => {
    tree = createTreeWithEmptyWorkspace();
  });

  it('creates the three projects with the targets each needs', async () => {
    await gen(tree);
    const backend = readProjectConfiguration(tree, 'shop-backend');
    expect(backend.root).toBe('apps/shop/backend');
    expect(Object.keys(backend.targets ?? {}).sort()).toEqual(
      ['build', 'lint', 'metrics-inject', 'serve', 'test', 'typecheck'].sort(),
    );
    expect(backend.targets?.['build'].outputs).toEqual([
      '{workspaceRoot}/dist/apps/shop/backend/main.js',
    ]);
    expect(backend.targets?.['metrics-inject'].configurations).toHaveProperty('staging', {
      profile: 'staging',
    });

    const frontend = readProjectConfiguration(tree, 'shop-frontend');
    expect(frontend.root).toBe('apps/shop/frontend');
    expect(Object.keys(frontend.targets ?? {}).sort()).toEqual([
      'build',
      'lint',
      'serve',
      'test',
      'typecheck',
    ]);

    const unit = readProjectConfiguration(tree, 'shop');
    expect(unit.implicitDependencies).toEqual(['shop-backend', 'shop-frontend']);
    expect(Object.keys(unit.targets ?? {}).sort()).toEqual([
      'bootstrap',
      'browser-test',
      'build-push',
      'deploy',
      'doctor',
      'history',
      'maintenance',
      'preview',
      'rollback',
      'secrets',
      'status',
    ]);
    expect(
      unit.targets?.['build-push'].options.images.map((i: { component: string }) => i.component),
    ).toEqual(['backend', 'frontend']);
    expect(unit.targets?.['deploy'].configurations).toHaveProperty('production', {
      profile: 'production',
    });
  });

  it('writes the seed files of the deploy unit with the app name in them', async () => {
    await gen(tree);
    for (const f of [
      'apps/shop/docker-compose.staging.yml',
      'apps/shop/.env.staging.example',
      'apps/shop/infra/ansible/inventory/staging',
      'apps/shop/infra/ansible/inventory/production',
      'apps/shop/infra/ansible/playbook.yml',
      'apps/shop/infra/ansible/ansible.cfg',
      'apps/shop/infra/ansible/README.md',
      'apps/shop/DEPLOY_STAGING.md',
      'apps/shop/backend/Dockerfile',
      'apps/shop/frontend/Dockerfile',
    ]) {
      expect(tree.exists(f)).toBe(true);
    }
    expect(tree.read('apps/shop/DEPLOY_STAGING.md', 'utf-8')).toContain(
      'nx run shop:deploy --configuration=staging',
    );
    expect(tree.read('apps/shop/.env.staging.example', 'utf-8')).toContain(
      'COMPOSE_PROJECT_NAME=shop',
    );
  });

  it('writes a compose file with both images, ports, health checks and restart policy', async () => {
    await gen(tree, { backendPort: 9090, frontendPort: 3000 });
    const compose = parse(tree.read('apps/shop/docker-compose.staging.yml', 'utf-8') ?? '');
    expect(compose.services.backend).toMatchObject({
      image: '${REGISTRY_URL}/${REGISTRY_NS}/shop_backend:${IMAGE_TAG}',
      restart: 'unless-stopped',
      ports: ['${CONVEYOR_BIND_PREFIX:-}${BACKEND_PORT:-9090}:8080'],
    });
    expect(compose.services.backend.healthcheck.test[0]).toBe('CMD');
    expect(compose.services.frontend).toMatchObject({
      image: '${REGISTRY_URL}/${REGISTRY_NS}/shop_frontend:${IMAGE_TAG}',
      ports: ['${CONVEYOR_BIND_PREFIX:-}${FRONTEND_PORT:-3000}:80'],
    });
    expect(compose.version).toBeUndefined();
  });

  it('leaves the frontend out with --frontend=none', async () => {
    await gen(tree, { frontend: 'none' });
    expect(tree.exists('apps/shop/frontend')).toBe(false);
    expect(() => readProjectConfiguration(tree, 'shop-frontend')).toThrow();
    const compose = parse(tree.read('apps/shop/docker-compose.staging.yml', 'utf-8') ?? '');
    expect(Object.keys(compose.services)).toEqual(['backend']);
    expect(readProjectConfiguration(tree, 'shop').implicitDependencies).toEqual(['shop-backend']);
  });

  it('writes the CI/CD workflow when missing and keeps it current', async () => {
    await gen(tree);
    const workflow = parse(tree.read('.github/workflows/ci-cd.yml', 'utf-8') ?? '');
    expect(Object.keys(workflow.jobs)).toEqual(
      expect.arrayContaining(['test', 'build', 'deploy', 'promote']),
    );
  });

  it('runs init when the workspace has no profiles', async () => {
    await gen(tree);
    expect(tree.exists('config/profiles/staging.yml')).toBe(true);
    expect(tree.exists('env.example')).toBe(true);
  });

  it('writes a playbook that is a list of plays over the app hosts', async () => {
    await gen(tree);
    const playbook = parse(tree.read('apps/shop/infra/ansible/playbook.yml', 'utf-8') ?? '');
    expect(playbook[0]).toMatchObject({ hosts: 'app', name: 'Release shop' });
    // The registry password reaches the host helper on stdin, in a task that logs nothing.
    const carry = playbook[0].tasks.find((t: { name: string }) => t.name === 'Carry out the plan');
    expect(carry['ansible.builtin.command'].stdin).toContain("lookup('env', 'REGISTRY_PASS')");
    expect(carry['ansible.builtin.command'].argv.join(' ')).not.toContain('REGISTRY_PASS');
    expect(carry.no_log).toBe(true);
  });

  it('adds the dependencies the generated projects need', async () => {
    await gen(tree);
    const pkg = JSON.parse(tree.read('package.json', 'utf-8') ?? '{}');
    expect(pkg.dependencies).toHaveProperty('fastify');
    expect(pkg.dependencies).toHaveProperty('react');
    expect(pkg.devDependencies).toHaveProperty('esbuild');
    expect(pkg.devDependencies).toHaveProperty('vite');
  });

  it('writes the browser tests as their own project (Playwright through @nx/playwright), not for a backend alone', async () => {
    await gen(tree, { database: 'postgres' });
    const e2e = readProjectConfiguration(tree, 'shop-e2e');
    expect(e2e.root).toBe('apps/shop/e2e');
    expect(e2e.tags).toContain('conveyor:browser-test');
    // The target is inferred from playwright.config.mjs by @nx/playwright/plugin, never cached.
    expect(e2e.targets?.['e2e']).toEqual({ cache: false });
    const plugins = JSON.parse(tree.read('nx.json', 'utf-8') ?? '{}').plugins;
    expect(plugins).toContainEqual({
      plugin: '@nx/playwright/plugin',
      options: { targetName: 'e2e' },
    });
    const spec = tree.read('apps/shop/e2e/src/app.spec.ts', 'utf-8') ?? '';
    expect(spec).toContain("getByTestId('image-tag')");
    expect(spec).toContain("getByLabel('New note')");
    expect(tree.read('apps/shop/e2e/playwright.config.mjs', 'utf-8')).toContain(
      "process.env['CHROMIUM_PATH']",
    );
    const pkg = JSON.parse(tree.read('package.json', 'utf-8') ?? '{}');
    expect(pkg.devDependencies['@nx/playwright']).toBe(pkg.devDependencies['nx'] ?? '23.2.1');
    // In a workspace on another Nx, @nx/playwright follows it.
    const other = createTreeWithEmptyWorkspace();
    writeJson(other, 'package.json', { name: 'ws', devDependencies: { nx: '23.3.0' } });
    await gen(other);
    const otherPkg = JSON.parse(other.read('package.json', 'utf-8') ?? '{}');
    expect(otherPkg.devDependencies['@nx/playwright']).toBe('23.3.0');
    await gen(tree, { name: 'api', frontend: 'none' });
    expect(tree.exists('apps/api/e2e')).toBe(false);
    // Once in nx.json, however many apps.
    const again = JSON.parse(tree.read('nx.json', 'utf-8') ?? '{}').plugins;
    expect(
      again.filter((p: { plugin?: string }) => p.plugin === '@nx/playwright/plugin'),
    ).toHaveLength(1);
    expect(() => readProjectConfiguration(tree, 'api-e2e')).toThrow();
    // Without a database, the browser test checks the release shown only.
    await gen(tree, { name: 'blog' });
    expect(tree.read('apps/blog/e2e/src/app.spec.ts', 'utf-8')).not.toContain('New note');
  });

  it('--database=postgres: a client, migrations with an example table, notes endpoints and a view; the deploy gets DATABASE_URL', async () => {
    await gen(tree, { database: 'postgres' });
    for (const f of [
      'apps/shop/backend/src/db.ts',
      'apps/shop/backend/src/notes.ts',
      'apps/shop/backend/src/migrate.ts',
      'apps/shop/backend/migrations/1700000000000_create-notes.sql',
      'apps/shop/frontend/src/Notes.tsx',
    ])
      expect(tree.exists(f)).toBe(true);
    const backend = readProjectConfiguration(tree, 'shop-backend');
    expect(backend.targets?.['build']?.outputs).toEqual([
      '{workspaceRoot}/dist/apps/shop/backend/main.js',
      '{workspaceRoot}/dist/apps/shop/backend/migrate.js',
      '{workspaceRoot}/dist/apps/shop/backend/migrations',
    ]);
    const deploy = readProjectConfiguration(tree, 'shop');
    expect(deploy.targets?.['deploy']?.options.secrets).toEqual(['DATABASE_URL']);
    const images = deploy.targets?.['build-push']?.options.images as {
      context: { to: string }[];
    }[];
    expect(images[0].context.map((c) => c.to)).toEqual([
      'main.js',
      'migrate.js',
      'migrations',
      'build-info.json',
    ]);
    expect(tree.read('apps/shop/backend/Dockerfile', 'utf-8')).toContain(
      'COPY migrations/ ./migrations/',
    );
    expect(tree.read('apps/shop/frontend/src/App.tsx', 'utf-8')).toContain('<Notes />');
    const pkg = JSON.parse(tree.read('package.json', 'utf-8') ?? '{}');
    expect(Object.keys(pkg.dependencies)).toEqual(
      expect.arrayContaining(['pg', 'node-pg-migrate']),
    );
    // Without it: none of that.
    await gen(tree, { name: 'blog' });
    expect(tree.exists('apps/blog/backend/src/db.ts')).toBe(false);
    expect(tree.read('apps/blog/backend/src/app.ts', 'utf-8')).not.toContain('notes');
    expect(
      readProjectConfiguration(tree, 'blog').targets?.['deploy']?.options.secrets,
    ).toBeUndefined();
  });

  it('--database=postgres: nx serve runs against a development database, migrated first, with no other step', async () => {
    await gen(tree, { database: 'postgres' });
    await gen(tree, { name: 'blog', database: 'postgres' });
    const compose = parse(tree.read('apps/shop/docker-compose.dev-db.yml', 'utf-8') ?? '');
    expect(compose.services.postgres).toMatchObject({
      image: '${POSTGRES_IMAGE:-postgres:17}',
      environment: {
        POSTGRES_USER: 'dev',
        POSTGRES_PASSWORD: 'dev-only-not-a-secret',
        POSTGRES_DB: 'shop',
      },
      ports: ['127.0.0.1:${DEV_DB_PORT:-5434}:5432'],
      volumes: ['data:/var/lib/postgresql/data'],
    });
    expect(Object.keys(compose.volumes)).toEqual(['data']);
    expect(tree.read('apps/shop/docker-compose.dev-db.yml', 'utf-8')).toMatch(
      /^# DEVELOPMENT ONLY/,
    );
    // The URL file holds the same password and port; the next app gets the next port.
    expect(tree.read('apps/shop/dev-db.url', 'utf-8')).toBe(
      'postgres://dev:dev-only-not-a-secret@127.0.0.1:5434/shop\n',
    );
    expect(tree.read('apps/blog/dev-db.url', 'utf-8')).toContain('@127.0.0.1:5444/blog');

    const targets = readProjectConfiguration(tree, 'shop-backend').targets ?? {};
    const url = 'DATABASE_URL_FILE=${DATABASE_URL_FILE:-apps/shop/dev-db.url}';
    expect(targets['serve']).toMatchObject({
      options: { command: `${url} node dist/apps/shop/backend/main.js` },
      dependsOn: ['build', 'metrics-inject', 'migrate'],
      continuous: true,
    });
    expect(targets['migrate']).toMatchObject({
      options: { command: `${url} node dist/apps/shop/backend/migrate.js` },
      dependsOn: ['build', 'dev-db'],
      cache: false,
    });
    const compose_ =
      '${LOCAL_COMPOSE_COMMAND:-docker compose} -p shop-dev-db -f apps/shop/docker-compose.dev-db.yml';
    // The command itself runs in app.e2e (against the engine, with compose v1).
    expect(targets['dev-db']).toEqual({
      executor: 'nx:run-commands',
      options: { command: expect.stringContaining(`${compose_} up -d && `) },
      configurations: { down: { command: `${compose_} down` } },
      cache: false,
    });
    const readme = tree.read('apps/shop/backend/README.md', 'utf-8') ?? '';
    expect(readme).toContain('nx run shop-backend:dev-db');
    expect(readme).toContain('nx run shop-backend:migrate');
    // Without a database: none of it.
    await gen(tree, { name: 'plain' });
    expect(tree.exists('apps/plain/docker-compose.dev-db.yml')).toBe(false);
    expect(readProjectConfiguration(tree, 'plain-backend').targets?.['migrate']).toBeUndefined();
    expect(tree.read('apps/plain/backend/README.md', 'utf-8')).not.toContain('dev-db');
  });

  describe('bad input writes nothing', () => {
    it.each([
      [{ name: '../x' }, /App name "..\/x" is not valid/],
      [{ name: 'My App' }, /App name "My App" is not valid/],
      [{ name: 'a;rm -rf' }, /App name "a;rm -rf" is not valid/],
      [{ name: '' }, /An app name is required/],
      [{ frontend: 'angular' }, /--frontend must be one of react-vite, none, got "angular"/],
      [{ database: 'mysql' }, /--database must be one of none, postgres, got "mysql"/],
      [{ directory: '../outside' }, /--directory must be a relative folder/],
      [{ backendPort: 70000 }, /--backendPort must be a port number/],
      [{ backendPort: 5173 }, /must differ/],
    ])('%j', async (extra, message) => {
      const before = tree.listChanges().length;
      await expect(gen(tree, extra)).rejects.toThrow(message);
      expect(tree.listChanges().length).toBe(before);
    });

    it('refuses an app that already exists', async () => {
      await gen(tree);
      const before = tree.listChanges().map((c) => `${c.path}:${c.content?.length}`);
      await expect(gen(tree)).rejects.toThrow('A project named "shop" already exists');
      expect(tree.listChanges().map((c) => `${c.path}:${c.content?.length}`)).toEqual(before);
    });
  });
});
