/** Runs a command: argv only (no shell), optional stdin, output streamed and redacted. */
import { spawn } from 'node:child_process';
import type { Command } from '../core/image/engine';
import { redactStream, Secrets } from '../core/config/redact';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  secrets?: Secrets;
  /** Stream output to the terminal as it comes (redacted). Default true. */
  stream?: boolean;
  /** Each line of stdout as it comes (redacted), e.g. a host's progress. */
  onLine?: (line: string) => void;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved, redacted. */
  output: string;
}

export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    message: string,
    readonly result: RunResult,
  ) {
    super(message);
  }
}

export function run(command: Command, options: RunOptions = {}): Promise<RunResult> {
  const secrets = options.secrets ?? [];
  const stream = options.stream ?? true;
  return new Promise((resolve) => {
    const [bin, ...args] = command.argv;
    let stdout = '';
    let stderr = '';
    let output = '';
    let partial = '';
    const child = spawn(bin, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // One redactor per stream: a secret split across two chunks is masked all the same.
    const redactors = { out: redactStream(secrets), err: redactStream(secrets) };
    const show = (which: 'out' | 'err', text: string) => {
      if (!text) return;
      if (which === 'out') {
        stdout += text;
        if (options.onLine) {
          const lines = (partial + text).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) options.onLine(line);
        }
      } else stderr += text;
      output += text;
      if (stream) (which === 'out' ? process.stdout : process.stderr).write(text);
    };
    const flush = () => {
      show('out', redactors.out.end());
      show('err', redactors.err.end());
    };
    // Text, not bytes: a character split across two chunks is decoded whole.
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (text: string) => show('out', redactors.out.push(text)));
    child.stderr.on('data', (text: string) => show('err', redactors.err.push(text)));
    child.on('error', (error: NodeJS.ErrnoException) => {
      flush();
      const message = error.code === 'ENOENT' ? `${bin}: command not found` : error.message;
      resolve({ code: 127, stdout, stderr: stderr + message, output: output + message });
    });
    child.on('close', (code) => {
      flush();
      if (partial && options.onLine) options.onLine(partial);
      resolve({ code: code ?? 1, stdout, stderr, output });
    });
    child.stdin.on('error', () => undefined);
    if (command.stdin !== undefined) child.stdin.end(command.stdin);
    else child.stdin.end();
  });
}

/** Runs and throws a CommandError with `what` and the output's tail on a non-zero exit. */
export async function runOrThrow(
  command: Command,
  what: string,
  options: RunOptions = {},
): Promise<RunResult> {
  const result = await run(command, options);
  if (result.code !== 0) {
    const tail = result.output.trim().split('\n').slice(-30).join('\n');
    throw new CommandError(
      `${what} failed (exit ${result.code}).${tail ? `\n${tail}` : ''}`,
      result,
    );
  }
  return result;
}
