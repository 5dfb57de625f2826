/**
 * A real Prometheus (Debian's package, installed by tools/env/up.sh) run here on a config the
 * monitoring generator wrote, on a free loopback port, and its query API: what the monitoring and
 * canary suites share.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { e2eDir, waitFor } from './utils';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface Prometheus {
  port: number;
  url: string;
  /** What it printed, for failure messages. */
  log(): string;
  /** An instant query's samples (its errors thrown with the expression). */
  query(expr: string): Promise<Sample[]>;
  stop(): Promise<void>;
}

/** Starts Prometheus on `config` (its own data folder) and waits until it is ready. */
export async function startPrometheus(config: string, port?: number): Promise<Prometheus> {
  const listen = port ?? (await freePort());
  const data = mkdtempSync(join(e2eDir(), 'prometheus-data-'));
  const child = spawn(
    'prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${data}`,
      `--web.listen-address=127.0.0.1:${listen}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const url = `http://127.0.0.1:${listen}`;
  const prometheus: Prometheus = {
    port: listen,
    url,
    log: () => output,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { result: Sample[] };
      };
      if (body.status !== 'success') throw new Error(`Prometheus refused ${expr}: ${body.error}`);
      return body.data?.result ?? [];
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
  await waitFor(
    'Prometheus to be ready',
    async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited:\n${output}`);
      const res = await fetch(`${url}/-/ready`).catch(() => undefined);
      return res?.ok ? true : undefined;
    },
    30_000,
  );
  return prometheus;
}
