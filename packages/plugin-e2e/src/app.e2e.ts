/**
 * Issue: scaffolding. What a user does: a new Nx workspace with the plugin installed from its
 * tarball, `nx g @conveyor/plugin:app`, then the generated projects' own targets.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPostgres } from './postgres';
import { chromiumPath, must, mustNx, newWorkspace, nx, portBlock, sh, testEnv } from './utils';

/** The workspace's files, without node_modules and Nx's own cache. */
const workspaceFiles = (ws: string) =>
  sh(
    'find',
    [
      '.',
      '(',
      '-path',
      './node_modules',
      '-o',
      '-path',
      './.nx',
      ')',
      '-prune',
      '-o',
      '-type',
      'f',
      '-print',
    ],
    {
      cwd: ws,
    },
  ).stdout;

/** Runs a bundle with node in this environment: its exit code and output. */
function runNode(
  file: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { cwd: '/', env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** The first answer of url (waits up to 30 s for a server that starts). */
async function answering(url: string, init?: RequestInit): Promise<Response> {
  for (let i = 0; i < 120; i++) {
    const r = await fetch(url, init).catch(() => undefined);
    if (r) return r;
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error(`${url} did not answer within 30 s`);
}

describe('app generator in a real workspace', () => {
  it('shop with a React + Vite frontend: build, test, lint and typecheck pass; the backend serves /health and /metrics', async () => {
    const ws = newWorkspace('app-react');
    mustNx(ws, ['g', '@conveyor/plugin:app', 'shop', '--frontend=react-vite', '--no-interactive']);
    for (const f of [
      'config/profiles/local.yml',
      'config/profiles/staging.yml',
      'config/profiles/production.yml',
      'env.example',
      'apps/shop/docker-compose.staging.yml',
      'apps/shop/.env.staging.example',
      'apps/shop/infra/ansible/playbook.yml',
      'apps/shop/DEPLOY_STAGING.md',
    ]) {
      expect(existsSync(join(ws, f))).toBe(true);
    }
    const projects = mustNx(ws, ['show', 'projects', '--json']).stdout;
    expect(JSON.parse(projects.slice(projects.indexOf('['))).sort()).toEqual([
      'shop',
      'shop-backend',
      'shop-e2e',
      'shop-frontend',
    ]);

    mustNx(ws, ['run-many', '-t', 'build', 'test', 'lint', 'typecheck', '--outputStyle=static']);
    expect(existsSync(join(ws, 'dist/apps/shop/backend/main.js'))).toBe(true);
    expect(existsSync(join(ws, 'dist/apps/shop/frontend/index.html'))).toBe(true);

    // The bundle runs without node_modules next to it.
    const port = portBlock('app');
    const server = spawn(process.execPath, [join(ws, 'dist/apps/shop/backend/main.js')], {
      cwd: '/',
      env: {
        PATH: process.env['PATH'],
        PORT: String(port),
        IMAGE_TAG: 'e2e-tag',
        REGISTRY_URL: 'https://u:secretpw@reg.example.com',
        REGISTRY_NS: 'acme',
      },
    });
    try {
      let health: Response | undefined;
      for (let i = 0; i < 60 && !health; i++) {
        health = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
        if (!health) await new Promise((r) => setTimeout(r, 250));
      }
      expect(health?.status).toBe(200);
      expect(await health?.json()).toEqual({ ok: true });
      const metricsText = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metricsText).not.toContain('secretpw');
      const metrics = JSON.parse(metricsText);
      expect(metrics).toMatchObject({
        ok: true,
        service: 'shop-backend',
        version: { image_tag: 'e2e-tag' },
        images: {
          backend: 'reg.example.com/acme/shop_backend:e2e-tag',
          frontend: 'reg.example.com/acme/shop_frontend:e2e-tag',
        },
        profile: { registry: 'reg.example.com' },
      });
    } finally {
      server.kill('SIGTERM');
    }
  });

  it('--frontend=none: only the backend and the deploy unit; build and test pass', () => {
    const ws = newWorkspace('app-none');
    mustNx(ws, ['g', '@conveyor/plugin:app', 'api', '--frontend=none', '--no-interactive']);
    expect(existsSync(join(ws, 'apps/api/frontend'))).toBe(false);
    mustNx(ws, ['run-many', '-t', 'build', 'test', 'lint', '--outputStyle=static']);
    expect(readFileSync(join(ws, 'apps/api/docker-compose.staging.yml'), 'utf8')).not.toContain(
      'frontend',
    );
  });

  it('--database=postgres: build, test, lint and typecheck pass; against a real Postgres the migrations run once and the backend keeps notes; the browser test passes in Chromium and fails on a page that is not the app', async () => {
    const ws = newWorkspace('app-db');
    const port = portBlock('app') + 2;
    mustNx(ws, [
      'g',
      '@conveyor/plugin:app',
      'memo',
      '--database=postgres',
      `--backendPort=${port}`,
      `--frontendPort=${port + 1}`,
      '--no-interactive',
    ]);
    mustNx(ws, ['run-many', '-t', 'build', 'test', 'lint', 'typecheck', '--outputStyle=static']);
    const dist = join(ws, 'dist/apps/memo/backend');
    expect(existsSync(join(dist, 'migrations/1700000000000_create-notes.sql'))).toBe(true);
    const db = await startPostgres();
    const secretFile = join(ws, 'database-url');
    writeFileSync(secretFile, `${db.url}\n`, { mode: 0o600 });
    // Bundles that run without node_modules, the database URL read from a file, as on a host.
    const env = { PATH: process.env['PATH'], DATABASE_URL_FILE: secretFile };
    const migrate = () => runNode(join(dist, 'migrate.js'), env);
    // Its log to a file: a pipe nobody reads would fill and block it.
    const serverLog = openSync(join(ws, 'backend.log'), 'w');
    const server = spawn(process.execPath, [join(dist, 'main.js')], {
      cwd: '/',
      env: { ...env, PORT: String(port), IMAGE_TAG: 'e2e-db' },
      stdio: ['ignore', serverLog, serverLog],
    });
    // The frontend as a developer runs it: vite, /api proxied to the backend.
    const vite = spawn('npx', ['nx', 'run', 'memo-frontend:serve', '--outputStyle=static'], {
      cwd: ws,
      detached: true,
      stdio: 'ignore',
    });
    try {
      // Two runners at once: node-pg-migrate's advisory lock lets one apply the migration.
      const both = await Promise.all([migrate(), migrate()]);
      const applied = both.filter((r) => r.code === 0).map((r) => JSON.parse(r.stdout).applied);
      expect(applied.flat()).toEqual(['1700000000000_create-notes']);
      for (const r of both.filter((x) => x.code !== 0))
        expect(r.stderr).toContain('Another migration is already running');
      const again = await migrate();
      expect([again.code, JSON.parse(again.stdout)]).toEqual([0, { applied: [] }]);

      const api = `http://127.0.0.1:${port}`;
      expect((await answering(`${api}/health`)).status).toBe(200);
      const posted = await fetch(`${api}/notes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ body: 'kept in Postgres' }),
      });
      expect(posted.status).toBe(201);
      const listed = (await (await fetch(`${api}/notes`)).json()) as { notes: { body: string }[] };
      expect(listed.notes.map((n) => n.body)).toEqual(['kept in Postgres']);

      // The generated Playwright test in Debian's Chromium: the release shown, a note written
      // on the page and read back after a reload.
      const page = `http://127.0.0.1:${port + 1}`;
      expect((await answering(page)).status).toBe(200);
      const browser = { CHROMIUM_PATH: chromiumPath(), EXPECT_IMAGE_TAG: 'e2e-db' };
      const passed = nx(ws, ['e2e', 'memo-e2e', '--outputStyle=static'], {
        ...process.env,
        ...browser,
        BASE_URL: page,
      });
      expect(passed.code === 0 ? '' : passed.output.slice(-4000)).toBe('');
      expect(passed.output).toMatch(/2 passed/);
      const shots = sh('find', [
        ws,
        '-path',
        join(ws, 'node_modules'),
        '-prune',
        '-o',
        '-name',
        'test-finished-*.png',
        '-print',
      ]).stdout.trim();
      expect(shots.split('\n').length).toBeGreaterThanOrEqual(2);
      // The same test against a page that is not the app (the backend's own port): it fails.
      const broken = nx(ws, ['e2e', 'memo-e2e', '--outputStyle=static'], {
        ...process.env,
        ...browser,
        BASE_URL: api,
      });
      expect(broken.code).not.toBe(0);
      expect(broken.output).toMatch(/2 failed/);

      db.stop();
      // A new connection (the server may have closed an idle keep-alive one meanwhile).
      const down = await answering(`${api}/health`, { headers: { connection: 'close' } });
      const backendLog = down.status === 503 ? '' : readFileSync(join(ws, 'backend.log'), 'utf8');
      expect({ status: down.status, body: await down.json(), backendLog }).toEqual({
        status: 503,
        body: { ok: false, database: 'unreachable' },
        backendLog: '',
      });
    } finally {
      server.kill('SIGTERM');
      if (vite.pid) process.kill(-vite.pid, 'SIGTERM');
      db.stop();
    }
    // Development: `serve` needs the development database migrated; `migrate` starts it from the
    // generated compose file (the engine, compose v1 here) and runs the migrations on it.
    const local = testEnv();
    const dev = {
      ...process.env,
      ...local,
      POSTGRES_IMAGE: local['CONVEYOR_POSTGRES_IMAGE'],
      LOCAL_COMPOSE_COMMAND: local['CONVEYOR_COMPOSE_COMMAND'],
    };
    try {
      const migrated = nx(ws, ['run', 'memo-backend:migrate', '--outputStyle=static'], dev);
      expect(migrated.code === 0 ? '' : migrated.output.slice(-3000)).toBe('');
      expect(migrated.output).toContain('{"applied":["1700000000000_create-notes"]}');
      const again = nx(ws, ['run', 'memo-backend:migrate', '--outputStyle=static'], dev);
      expect(again.output).toContain('{"applied":[]}');
    } finally {
      nx(ws, ['run', 'memo-backend:dev-db:down', '--outputStyle=static'], dev);
      const [bin, ...args] = (local['CONVEYOR_COMPOSE_COMMAND'] ?? 'docker compose').split(' ');
      sh(
        bin,
        [...args, '-p', 'memo-dev-db', '-f', 'apps/memo/docker-compose.dev-db.yml', 'down', '-v'],
        {
          cwd: ws,
          env: dev,
        },
      );
    }
  });

  it('bad input is refused with a clear message and nothing is written; --dry-run writes nothing', () => {
    const ws = newWorkspace('app-bad');
    const before = workspaceFiles(ws);
    for (const [args, message] of [
      [['../x'], 'is not valid'],
      [['My App'], 'is not valid'],
      [['a;rm -rf'], 'is not valid'],
      [['shop', '--frontend=angular'], "'angular' should be one of react-vite,none"],
    ] as const) {
      const r = nx(ws, ['g', '@conveyor/plugin:app', ...args, '--no-interactive']);
      expect(r.code).not.toBe(0);
      expect(r.output).toContain(message);
    }
    const dry = mustNx(ws, ['g', '@conveyor/plugin:app', 'shop', '--dry-run', '--no-interactive']);
    expect(dry.output).toContain('apps/shop/docker-compose.staging.yml');
    expect(workspaceFiles(ws)).toBe(before);

    mustNx(ws, ['g', '@conveyor/plugin:app', 'shop', '--skipInstall', '--no-interactive']);
    const again = nx(ws, ['g', '@conveyor/plugin:app', 'shop', '--no-interactive']);
    expect(again.code).not.toBe(0);
    expect(again.output).toContain('A project named "shop" already exists');
  });

  it('the generated playbook passes ansible-playbook --syntax-check and ansible-lint; the compose file is valid', () => {
    const ws = newWorkspace('app-ansible');
    mustNx(ws, ['g', '@conveyor/plugin:app', 'shop', '--skipInstall', '--no-interactive']);
    const dir = join(ws, 'apps/shop/infra/ansible');
    must('ansible-playbook', ['--syntax-check', '-i', 'inventory/staging', 'playbook.yml'], {
      cwd: dir,
      env: { ...process.env, ANSIBLE_CONFIG: join(dir, 'ansible.cfg') },
    });
    const lint = sh('ansible-lint', ['--offline', 'playbook.yml'], {
      cwd: dir,
    });
    expect({ code: lint.code, output: lint.code === 0 ? '' : lint.output }).toEqual({
      code: 0,
      output: '',
    });
    const env = testEnv();
    const compose = must(
      'docker-compose',
      ['-f', 'apps/shop/docker-compose.staging.yml', 'config'],
      {
        cwd: ws,
        env: {
          ...process.env,
          ...env,
          REGISTRY_URL: 'reg.example.com',
          REGISTRY_NS: 'acme',
          IMAGE_TAG: 'abc1234',
        },
      },
    );
    expect(compose.stdout).toContain('reg.example.com/acme/shop_backend:abc1234');
    expect(compose.stdout).toContain('reg.example.com/acme/shop_frontend:abc1234');
  });
});
