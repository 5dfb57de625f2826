/**
 * Once per e2e run: build and pack the plugin, then make the template workspace a user
 * would have: create-nx-workspace, then `npm install` of the packed plugin. Tests copy it.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { plantForeignRelease } from './host';
import { must, REPO_ROOT, runPointer } from './utils';

export default async function globalSetup(): Promise<void> {
  // The suites must hold on a used machine: another workspace's shop on staging, folder deleted.
  plantForeignRelease();
  const E2E_DIR = mkdtempSync(join(tmpdir(), 'conveyor-e2e-'));
  writeFileSync(runPointer(process.pid), E2E_DIR);
  const TEMPLATE_WORKSPACE = join(E2E_DIR, 'template');
  must('npx', ['nx', 'run', 'plugin:build', '--skip-nx-cache'], {
    cwd: REPO_ROOT,
    env: { ...process.env, NX_DAEMON: 'false', NX_TUI: 'false' },
  });
  must('npm', ['pack', '--pack-destination', E2E_DIR, join(REPO_ROOT, 'dist/packages/plugin')], {
    cwd: E2E_DIR,
  });
  const tarball = readdirSync(E2E_DIR).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack made no tarball');
  must(
    'npx',
    [
      '-y',
      'create-nx-workspace@23.2.1',
      'template',
      '--preset=apps',
      '--nxCloud=skip',
      '--interactive=false',
      '--packageManager=npm',
      '--skipGit',
    ],
    { cwd: E2E_DIR, env: { ...process.env, NX_DAEMON: 'false' } },
  );
  must('npm', ['install', '--save-dev', '--no-audit', '--no-fund', join(E2E_DIR, tarball)], {
    cwd: TEMPLATE_WORKSPACE,
  });
  if (!existsSync(join(TEMPLATE_WORKSPACE, 'node_modules/@conveyor/plugin/generators.json'))) {
    throw new Error('The plugin tarball did not install into the template workspace.');
  }
  // Warm the template: generating one app installs the packages every generated app uses, so the
  // tests' own `nx g` runs find them installed. The app and Conveyor's files are then removed again.
  must(
    join(TEMPLATE_WORKSPACE, 'node_modules/.bin/nx'),
    ['g', '@conveyor/plugin:app', 'warmup', '--no-interactive'],
    {
      cwd: TEMPLATE_WORKSPACE,
      env: { ...process.env, NX_DAEMON: 'false' },
    },
  );
  for (const path of ['apps/warmup', 'config', 'env.example', '.nx', '.github'])
    rmSync(join(TEMPLATE_WORKSPACE, path), { recursive: true, force: true });
}
