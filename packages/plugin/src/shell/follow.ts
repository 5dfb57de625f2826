/** Runs a command in the background and hands over each line it prints; stop() ends it. */
import { spawn } from 'node:child_process';
import type { Command } from '../core/image/engine';

export interface Follower {
  /** Ends the command (if still running) and resolves once its lines are handed over. */
  stop(): Promise<void>;
}

export function follow(command: Command, onLine: (line: string) => void): Follower {
  const [bin, ...args] = command.argv;
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  let rest = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString('utf8')).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  const closed = new Promise<void>((resolve) => {
    child.on('close', () => resolve());
    child.on('error', () => resolve());
  });
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await closed;
      if (rest) onLine(rest);
    },
  };
}
