/**
 * Issue: scaffolding. What a user does: a new Nx workspace with the plugin installed from its
 * tarball, `nx g @conveyor/plugin:app`, then the generated projects' own targets.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { must, mustNx, newWorkspace, nx, portBlock, sh, testEnv } from './utils';

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
      'shop-frontend',
    ]);

    mustNx(ws, ['run-many', '-t', 'build', 'test', 'lint', 'typecheck', '--outputStyle=static']);
    expect(existsSync(join(ws, 'dist/apps/shop/backend/main.js'))).toBe(true);
    expect(existsSync(join(ws, 'dist/apps/shop/frontend/index.html'))).toBe(true);

    // The bundle runs without node_modules next to it.
    const port = portBlock('app');
    const { spawn } = await import('node:child_process');
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
