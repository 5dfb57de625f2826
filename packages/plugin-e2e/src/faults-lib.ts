/**
 * Helpers for faults.e2e.ts: run an nx target so that it can be killed mid-way (its own process
 * group), follow a release on the host through <app>/.conveyor/runs/<run_id>.log, cut the SSH
 * connection of that release, kill its detached worker, stop and restart the test registry, and
 * act on the app's containers as the deploy user would.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sshAs } from './host';
import { REPO_ROOT, Result, sh } from './utils';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Running {
  pid: number;
  done: Promise<Result>;
  /** SIGKILL to the whole process group: nx, the executor, ansible-playbook, its ssh. */
  kill(): void;
  /** A signal to the whole process group, as a terminal's Ctrl-C (SIGINT) sends it. */
  signal(name: NodeJS.Signals): void;
}

/** Starts nx in a process group of its own (detached), collecting its output. */
export function spawnNx(ws: string, args: string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(join(ws, 'node_modules', '.bin', 'nx'), [...args, '--outputStyle=static'], {
    cwd: ws,
    detached: true,
    env: { ...env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', CI: 'true' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const done = new Promise<Result>((resolve) =>
    child.on('close', (code, signal) =>
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout,
        stderr,
        output: stdout + stderr + (signal ? `\n[killed by ${signal}]` : ''),
      }),
    ),
  );
  const pid = child.pid as number;
  return {
    pid,
    done,
    kill() {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    },
    signal(name) {
      try {
        process.kill(-pid, name);
      } catch {
        /* already gone */
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The host's files of one app

export interface HostEvent {
  event: string;
  phase?: string;
  status?: string;
  color?: string;
  [k: string]: unknown;
}

export class AppFiles {
  constructor(readonly appDir: string) {}
  get stateDir() {
    return join(this.appDir, '.conveyor');
  }
  get runsDir() {
    return join(this.stateDir, 'runs');
  }
  get lockDir() {
    return join(this.stateDir, 'lock');
  }
  runLogs(): string[] {
    if (!existsSync(this.runsDir)) return [];
    return readdirSync(this.runsDir).filter((f) => f.endsWith('.log'));
  }
  plans(): string[] {
    if (!existsSync(this.runsDir)) return [];
    return readdirSync(this.runsDir).filter((f) => f.endsWith('.plan.json'));
  }
  events(log: string): HostEvent[] {
    const path = join(this.runsDir, log);
    if (!existsSync(path)) return [];
    const out: HostEvent[] = [];
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as HostEvent);
      } catch {
        /* a line being written */
      }
    }
    return out;
  }
  holder(): Record<string, unknown> | undefined {
    try {
      return JSON.parse(readFileSync(join(this.lockDir, 'holder.json'), 'utf8'));
    } catch {
      return undefined;
    }
  }
  state(): {
    current?: {
      tag: string;
      color: string;
      git_sha?: string;
      images?: Record<string, { repository: string; digest: string }>;
    };
    previous?: { tag: string };
  } {
    return JSON.parse(readFileSync(join(this.stateDir, 'state.json'), 'utf8'));
  }
  history(): Record<string, unknown>[] {
    const path = join(this.stateDir, 'history.jsonl');
    if (!existsSync(path)) return [];
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
  }
  proxyCfg(): string {
    const path = join(this.appDir, 'proxy/conf/haproxy.cfg');
    return existsSync(path) ? readFileSync(path, 'utf8') : '';
  }
  /** The colour haproxy.cfg routes to (the one server line without "disabled"). */
  cfgColor(): string | undefined {
    const enabled = this.proxyCfg()
      .split('\n')
      .filter((l) => /^\s*server (blue|green) /.test(l) && !/disabled\s*$/.test(l))
      .map((l) => /server (blue|green)/.exec(l)?.[1]);
    const colors = [...new Set(enabled)];
    return colors.length === 1 ? colors[0] : undefined;
  }
}

/** Polls fast (25 ms) until fn returns a value; throws after timeoutMs. */
export async function poll<T>(
  what: string,
  fn: () => T | undefined,
  timeoutMs: number,
  everyMs = 25,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`Timed out (${timeoutMs} ms) waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The run log of the release started after `before` (the names of the run logs then). */
export async function newRunLog(
  files: AppFiles,
  before: string[],
  running?: Running,
  timeoutMs = 120_000,
): Promise<string> {
  return poll(
    'the release to start on the host (a new runs/*.log)',
    () => {
      const fresh = files.runLogs().filter((f) => !before.includes(f));
      if (fresh.length) return fresh.sort()[fresh.length - 1];
      return undefined;
    },
    timeoutMs,
  ).catch(async (e) => {
    if (running) {
      running.kill();
      const r = await running.done;
      throw new Error(`${(e as Error).message}\n${r.output.slice(-4000)}`);
    }
    throw e;
  });
}

export const runIdOf = (log: string) => log.replace(/\.log$/, '');

// ---------------------------------------------------------------------------------------------
// Processes on the host (this machine): found through /proc

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

function ppid(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

export function pids(match: (argv: string[]) => boolean): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => pid !== process.pid && match(cmdline(pid)));
}

/** Start time of a process (field 22 of /proc/PID/stat), as the host helper records it. */
export function processStart(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

export const bootId = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

const helperOf = (appDir: string, command: string) => (argv: string[]) =>
  argv.some((a) => a.endsWith('/conveyor-host.pyz')) &&
  (argv.includes(command) || (command === 'release' && argv.includes('release-bundle'))) &&
  argv.some((a) => a.startsWith(appDir + '/'));

/** The detached release worker(s) of this app. */
export const workerPids = (appDir: string) => pids(helperOf(appDir, 'release-worker'));

/**
 * Cuts the SSH connection that carries this app's release: the sshd session processes
 * ("sshd: deploy [priv]", "sshd: deploy@notty") above the helper's `release` process are
 * killed; the sshd listener and other connections are left alone. Returns the pids killed
 * ([] when no connection carried a release any more).
 */
export function cutSsh(appDir: string): number[] {
  const killed: number[] = [];
  for (const pid of pids(helperOf(appDir, 'release'))) {
    for (let p = ppid(pid); p > 1; p = ppid(p)) {
      const argv = cmdline(p).join(' ');
      if (argv.startsWith('sshd:') && !argv.includes('[listener]') && !argv.includes(' -D ')) {
        killed.push(p);
      }
    }
  }
  for (const p of killed) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  return killed;
}

export function killPids(list: number[], signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const p of list) {
    try {
      process.kill(p, signal);
    } catch {
      /* gone */
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The fault matrix's own registry (tools/env/lib/registry.sh: registry-faults, pid file in its folder)

export function registryPid(env: Record<string, string>): number | undefined {
  const file = join(env['CONVEYOR_TEST_FAULTS_REGISTRY_DIR'], 'registry.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return pid && existsSync(`/proc/${pid}`) ? pid : undefined;
}

export async function registryAnswers(env: Record<string, string>): Promise<boolean> {
  try {
    const r = await fetch(`http://${env['CONVEYOR_TEST_FAULTS_REGISTRY']}/v2/`, {
      signal: AbortSignal.timeout(2000),
    });
    return r.status === 200;
  } catch {
    return false;
  }
}

/** Makes sure the test registry runs and answers (continues a stopped one, else up.sh). */
export async function ensureRegistry(env: Record<string, string>): Promise<void> {
  const pid = registryPid(env);
  if (pid) killPids([pid], 'SIGCONT');
  if (await registryAnswers(env)) return;
  const r = sh('bash', [join(REPO_ROOT, 'tools/env/up.sh')], {
    env: { ...process.env, CONVEYOR_ENV_DIR: env['CONVEYOR_ENV_DIR'] },
  });
  if (!(await registryAnswers(env)))
    throw new Error(`The test registry does not answer after up.sh:\n${r.output.slice(-3000)}`);
}

// ---------------------------------------------------------------------------------------------
// Containers, as the deploy user on the host

export function onHost(env: Record<string, string>, command: string): Result {
  const r = sshAs(env['CONVEYOR_TEST_SSH_USER'], command);
  if (r.code !== 0)
    throw new Error(`on the host: ${command} failed (exit ${r.code}):\n${r.output}`);
  return r;
}

export function composeProjects(prefix: string): string[] {
  return ['blue', 'green', 'proxy'].map((c) => `${prefix}-${c}`);
}

/** Ids of the containers (running or not) of a compose project. */
export function containersOf(env: Record<string, string>, project: string, all = false): string[] {
  return onHost(
    env,
    `docker ps ${all ? '-a ' : ''}-q --filter label=com.docker.compose.project=${project}`,
  )
    .stdout.split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** `docker-compose up -d` in each folder of the app that has a docker-compose.yml (its .env beside it). */
export function composeUpFromFiles(env: Record<string, string>, folders: string[]): void {
  for (const dir of folders) {
    if (existsSync(join(dir, 'docker-compose.yml')))
      onHost(env, `cd ${dir} && ${env['CONVEYOR_COMPOSE_COMMAND']} up -d`);
  }
}

export const mtime = (path: string) => (existsSync(path) ? statSync(path).mtimeMs : 0);

/**
 * A SIGKILLed executor cannot remove its private folder (/tmp/conveyor-deploy-*: the SSH key
 * written from SSH_KEY_B64, the plan, the vars). Removes the ones whose plan names appDir.
 */
export function removeKilledExecutorDirs(appDir: string): number {
  let removed = 0;
  for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith('conveyor-deploy-'))) {
    const dir = join(tmpdir(), name);
    try {
      if (readFileSync(join(dir, 'plan.json'), 'utf8').includes(`"${appDir}"`)) {
        rmSync(dir, { recursive: true, force: true });
        removed++;
      }
    } catch {
      /* not one of ours, or gone */
    }
  }
  return removed;
}
