import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PrivateDir } from './temp';

const TEMP_MODULE = join(__dirname, 'temp.ts');
const TSCONFIG = join(__dirname, '..', '..', 'tsconfig.spec.json');

interface Child {
  path: string;
  signal(name: NodeJS.Signals): void;
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * A real node process that creates a PrivateDir, writes a key file into it, prints the folder and
 * waits (as a deploy waits on ansible-playbook). `extra` runs before it waits.
 */
const started: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  // A child that ignored its signal must not outlive a failing test.
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

function startChild(extra = ''): Promise<Child> {
  const script = `
    const { PrivateDir } = require(${JSON.stringify(TEMP_MODULE)});
    const dir = new PrivateDir('conveyor-signal-test-');
    dir.write('id_deploy', 'not really a key\\n');
    ${extra}
    process.stdout.write(dir.path + '\\n');
    setInterval(() => undefined, 1000);
  `;
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
    env: { ...process.env, TS_NODE_PROJECT: TSCONFIG },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      if (out.includes('\n')) {
        resolve({ path: out.trim(), signal: (s) => child.kill(s), ended });
      }
    });
    ended.then(({ code }) => reject(new Error(`child ended (${code}) before printing: ${stderr}`)));
  });
}

describe('PrivateDir', () => {
  it('is private: 0700 folder, 0600 files, gone after cleanup()', () => {
    const dir = new PrivateDir('conveyor-temp-spec-');
    const file = dir.write('k', 'x');
    expect(statSync(dir.path).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe('x');
    dir.cleanup();
    expect(existsSync(dir.path)).toBe(false);
  });

  it('registers its process-wide clean-up only while a folder lives', () => {
    const before = process.listenerCount('SIGTERM');
    const a = new PrivateDir('conveyor-temp-spec-');
    const b = new PrivateDir('conveyor-temp-spec-');
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    a.cleanup();
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    b.cleanup();
    b.cleanup();
    expect(process.listenerCount('SIGTERM')).toBe(before);
  });

  describe('a process stopped while it holds one (real child processes)', () => {
    it.each([
      ['SIGTERM', 143],
      ['SIGINT', 130],
      ['SIGHUP', 129],
    ] as const)(
      '%s: the folder is removed and the process exits with %i',
      async (signal, code) => {
        const child = await startChild();
        expect(existsSync(join(child.path, 'id_deploy'))).toBe(true);
        child.signal(signal);
        expect(await child.ended).toEqual({ code, signal: null });
        expect(existsSync(child.path)).toBe(false);
      },
      20_000,
    );

    it('still ends when another part of the process also listens to the signal', async () => {
      const child = await startChild(`process.on('SIGTERM', () => undefined);`);
      child.signal('SIGTERM');
      expect(await child.ended).toEqual({ code: 143, signal: null });
      expect(existsSync(child.path)).toBe(false);
    }, 20_000);

    it('a process that exits without cleaning up leaves nothing behind', async () => {
      const child = await startChild(`setTimeout(() => process.exit(3), 300);`);
      expect(await child.ended).toEqual({ code: 3, signal: null });
      expect(existsSync(child.path)).toBe(false);
    }, 20_000);
  });
});
