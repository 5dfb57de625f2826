/**
 * Private temp files (0600 in a 0700 folder), removed by cleanup() on every exit path: the
 * caller's `finally`, and also when the process is told to stop (Ctrl-C, a cancelled CI job:
 * SIGINT, SIGTERM, SIGHUP) or exits without reaching it. A decoded SSH key must not outlive
 * the run that decoded it.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type StopSignal = (typeof SIGNALS)[number];
/** Exit codes a shell reports for a process ended by these signals (128 + signal number). */
const SIGNAL_EXIT: Record<StopSignal, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

const live = new Set<PrivateDir>();

function removeAll(): void {
  for (const dir of [...live]) dir.cleanup();
}

const onExit = (): void => removeAll();

const onSignal = (signal: StopSignal): void => {
  removeAll();
  // Other listeners of this signal run in this same dispatch; then the process ends the way the
  // signal would have ended it, had no one listened.
  setImmediate(() => process.exit(SIGNAL_EXIT[signal]));
};

function watch(): void {
  process.on('exit', onExit);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function unwatch(): void {
  process.removeListener('exit', onExit);
  for (const signal of SIGNALS) process.removeListener(signal, onSignal);
}

export class PrivateDir {
  readonly path: string;
  constructor(prefix: string) {
    this.path = mkdtempSync(join(tmpdir(), prefix));
    chmodSync(this.path, 0o700);
    if (live.size === 0) watch();
    live.add(this);
  }
  write(name: string, content: string): string {
    const file = join(this.path, name);
    writeFileSync(file, content, { mode: 0o600 });
    return file;
  }
  file(name: string): string {
    return join(this.path, name);
  }
  cleanup(): void {
    rmSync(this.path, { recursive: true, force: true });
    if (live.delete(this) && live.size === 0) unwatch();
  }
}
