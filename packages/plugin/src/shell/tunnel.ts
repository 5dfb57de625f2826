/**
 * A port of this machine forwarded to a port only a host reaches (an SSH tunnel), for as long as
 * it is needed; the tunnel's process ends with close().
 */
import { spawn } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import type { Command } from '../core/image/engine';

/** A port nothing listens on now (the kernel's pick). */
export function freeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/** Starts the tunnel command and waits (up to 20 s) until its local port takes connections. */
export async function openTunnel(
  command: Command,
  localPort: number,
): Promise<{ close: () => void }> {
  const [bin, ...args] = command.argv;
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (c: Buffer) => (errors += c.toString('utf8')));
  let exited = false;
  child.once('exit', () => (exited = true));
  const close = () => {
    if (!exited) child.kill('SIGTERM');
  };
  const deadline = Date.now() + 20_000;
  while (!(await accepts(localPort))) {
    if (exited || Date.now() > deadline) {
      close();
      throw new Error(
        `the SSH tunnel to the host did not open: ${errors.trim().slice(-300) || 'no answer'}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { close };
}
