/** Helpers for e2e tests: real Nx workspaces in temp folders, real commands, the provisioned test environment. */
import { execFileSync, spawn, spawnSync, SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export const REPO_ROOT = join(__dirname, '..', '..', '..');
/**
 * A fresh folder per run, made by global setup and found through a file named after the jest
 * process (tests run in it with --runInBand, or in its workers), so concurrent runs never meet.
 */
export const runPointer = (pid: number) => join(tmpdir(), `conveyor-e2e-run-${pid}`);
export function e2eDir(): string {
  for (const pid of [process.pid, process.ppid]) {
    if (existsSync(runPointer(pid))) return readFileSync(runPointer(pid), 'utf8').trim();
  }
  throw new Error(
    'No e2e run folder: run the e2e tests through jest -c packages/plugin-e2e/jest.config.ts.',
  );
}
export const templateWorkspace = () => join(e2eDir(), 'template');
export const ENV_FILE = join(process.env['CONVEYOR_ENV_DIR'] ?? '/var/tmp/conveyor-env', 'env.sh');

/** Variables written by tools/env/up.sh (container engine, registry, ssh test host). */
export function testEnv(): Record<string, string> {
  if (!existsSync(ENV_FILE))
    throw new Error(`${ENV_FILE} is missing: run bash tools/env/up.sh first.`);
  const env: Record<string, string> = {};
  for (const line of readFileSync(ENV_FILE, 'utf8').split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2].replace(/^["']|["']$/g, '');
  }
  return env;
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
  output: string;
}

export function sh(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): Result {
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    input: opts.input,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  const stdout = r.stdout ?? '';
  const stderr = (r.stderr ?? '') + (r.error ? String(r.error) : '');
  return { code: r.status ?? 1, stdout, stderr, output: stdout + stderr };
}

/** Runs a command and throws with its output when it fails. */
export function must(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): Result {
  const r = sh(cmd, args, opts);
  if (r.code !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} failed (exit ${r.code}) in ${opts.cwd ?? '.'}:\n${r.output.slice(-6000)}`,
    );
  return r;
}

/**
 * An app name of this run's own (e.g. `shop-k3x9q`): compose projects are <app>-<env> on the
 * engine, so a suite never meets an app another workspace deployed to the same host. The suffix
 * is always five of [a-z0-9] (never empty, never a dash), so the name stays a valid app name.
 */
export function runApp(base: string): string {
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let suffix = '';
  while (suffix.length < 5) suffix += chars[Math.floor(Math.random() * chars.length)];
  const name = `${base}-${suffix}`;
  if (!/^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/.test(name)) throw new Error(`Not an app name: ${name}`);
  return name;
}

/** A fresh copy of the template workspace (create-nx-workspace + the plugin tarball), made by global setup. */
export function newWorkspace(name: string): string {
  const dir = mkdtempSync(join(e2eDir(), `${name}-`));
  cpSync(templateWorkspace(), dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

/**
 * The environment of an nx run: no daemon, no cloud, no terminal UI, CI; and not inside Jest
 * (Playwright refuses to run its tests when JEST_WORKER_ID says so).
 */
function nxEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const rest = { ...env };
  delete rest['JEST_WORKER_ID'];
  return { ...rest, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', CI: 'true' };
}

export function nx(ws: string, args: string[], env: NodeJS.ProcessEnv = process.env): Result {
  return sh(join(ws, 'node_modules', '.bin', 'nx'), args, { cwd: ws, env: nxEnv(env) });
}

export function mustNx(ws: string, args: string[], env: NodeJS.ProcessEnv = process.env): Result {
  const r = nx(ws, args, env);
  if (r.code !== 0)
    throw new Error(`nx ${args.join(' ')} failed (exit ${r.code}):\n${r.output.slice(-8000)}`);
  return r;
}

export function gitCommitAll(ws: string, message: string): string {
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 'e2e',
    GIT_AUTHOR_EMAIL: 'e2e@example.com',
    GIT_COMMITTER_NAME: 'e2e',
    GIT_COMMITTER_EMAIL: 'e2e@example.com',
  };
  if (!existsSync(join(ws, '.git'))) {
    must('git', ['init', '-q', '-b', 'main'], { cwd: ws });
    // Nx 23 keys its per-user cache and task database by the repository's identity (its remote,
    // else its first commit): a remote of its own keeps each test workspace's cache its own.
    must('git', ['remote', 'add', 'origin', `https://git.example.com/e2e/${basename(ws)}.git`], {
      cwd: ws,
    });
  }
  must('git', ['add', '-A'], { cwd: ws, env });
  must('git', ['commit', '-q', '-m', message], { cwd: ws, env });
  return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
    cwd: ws,
    encoding: 'utf8',
  }).trim();
}

export function writeFile(ws: string, path: string, content: string): void {
  mkdirSync(join(ws, path, '..'), { recursive: true });
  writeFileSync(join(ws, path), content);
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`Timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export async function getJson(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

/** Stops everything a deploy started for an app on the test host: its release folder, colours and proxy. */
export function downApp(appDir: string, env: Record<string, string>): void {
  const [bin, ...args] = (env['CONVEYOR_COMPOSE_COMMAND'] ?? 'docker compose').split(' ');
  for (const dir of [appDir, join(appDir, 'blue'), join(appDir, 'green'), join(appDir, 'proxy')]) {
    if (existsSync(join(dir, 'docker-compose.yml'))) {
      sh(bin, [...args, 'down', '--remove-orphans'], { cwd: dir, env: { ...process.env, ...env } });
    }
  }
}

/** Like nx(), without blocking the event loop (a load generator in this process keeps running). */
export function nxAsync(
  ws: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(join(ws, 'node_modules', '.bin', 'nx'), args, { cwd: ws, env: nxEnv(env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) =>
      resolve({ code: code ?? 1, stdout, stderr, output: stdout + stderr }),
    );
  });
}

/** Build args that point the generated Dockerfiles at the local base images (nothing can be pulled here). */
export function imageBuildArgs(env: Record<string, string>): string[] {
  return [
    `--buildArgs.NODE_IMAGE=${env['CONVEYOR_NODE_IMAGE']}`,
    `--buildArgs.WEB_IMAGE=${env['CONVEYOR_WEB_IMAGE']}`,
  ];
}

/** Environment for build-push with the local profile against the test registry, under namespace ns. */
export function localRegistryEnv(env: Record<string, string>, ns: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...env,
    LOCAL_REGISTRY_URL: env['CONVEYOR_TEST_REGISTRY'],
    REGISTRY_NS: ns,
  };
}

/** Tags of ns/repo in the test registry ([] when the repository does not exist). */
export async function registryTags(
  env: Record<string, string>,
  ns: string,
  repo: string,
): Promise<string[]> {
  const res = await fetch(`http://${env['CONVEYOR_TEST_REGISTRY']}/v2/${ns}/${repo}/tags/list`);
  if (res.status === 404) return [];
  return ((await res.json()) as { tags: string[] | null }).tags ?? [];
}

/**
 * Suites run side by side (two jest workers): each has a block of 300 public ports of its own,
 * 5100 + 300 * its index, starting at a random multiple of 10 in the block's first 100 (two runs
 * on one machine rarely meet). A suite uses its start and up to 200 above it; blue-green colours
 * add 10000 and 20000 (15100-19899, 25100-29899), which no block reaches.
 *
 * Every port stays below Linux's ephemeral range (32768-60999): a colour port in it can be the
 * local port of any outgoing connection on the machine (to sshd, the registry, Prometheus), and
 * the release then fails to bind it (CI once saw `bind: address already in use` on 38960).
 */
const PORT_BLOCKS = [
  'app',
  'assemble',
  'build-push',
  'canary',
  'deploy',
  'doctor',
  'faults',
  'fleet',
  'host-history',
  'demo',
  'migrate',
  'secrets',
  'zero-downtime',
  'edge',
  'fleet-tls',
  'database',
] as const;
export function portBlock(suite: (typeof PORT_BLOCKS)[number]): number {
  return 5100 + 300 * PORT_BLOCKS.indexOf(suite) + 10 * Math.floor(Math.random() * 10);
}

/** Debian's Chromium, for the generated apps' browser tests (tools/env/up.sh installs it). */
export function chromiumPath(): string {
  const found = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
  if (!found) throw new Error('chromium is missing: run bash tools/env/up.sh');
  return found;
}
