/**
 * A real ACME CA on this machine: Pebble (Let's Encrypt's test CA, Debian's package, installed by
 * tools/env/up.sh) with pebble-challtestsrv as its DNS, which answers every name with 127.0.0.1.
 * Pebble validates HTTP-01 challenges on `httpPort`: the edge's HTTP port. No shortcut: the
 * challenge is really fetched from the edge. Its issuing root changes at every start.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { freePort } from './prometheus';
import { e2eDir, waitFor } from './utils';

export interface Pebble {
  /** The ACME directory. */
  directory: string;
  /** Pebble's own HTTPS certificate (PEM file): what the edge must trust to talk to it. */
  serverCertFile: string;
  /** The root the certificates it issues chain to (PEM). */
  issuingRoot(): Promise<string>;
  /** Certificates issued since it started. */
  issued(): number;
  log(): string;
  stop(): Promise<void>;
}

export async function startPebble(httpPort: number, tlsPort: number): Promise<Pebble> {
  const dir = mkdtempSync(join(e2eDir(), 'pebble-'));
  const [acme, management, dns, dnsManagement] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const made = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '7',
    '-subj',
    '/CN=pebble',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  if (made.status !== 0) throw new Error(`openssl: ${String(made.stderr)}`);
  const config = join(dir, 'pebble.json');
  writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acme}`,
        managementListenAddress: `127.0.0.1:${management}`,
        certificate: cert,
        privateKey: key,
        httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  let output = '';
  const keep = (child: ChildProcess) => {
    child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    return child;
  };
  const challenges = keep(
    spawn('pebble-challtestsrv', [
      '-defaultIPv4',
      '127.0.0.1',
      '-defaultIPv6',
      '',
      '-http01',
      '',
      '-https01',
      '',
      '-tlsalpn01',
      '',
      '-dns01',
      `127.0.0.1:${dns}`,
      '-management',
      `127.0.0.1:${dnsManagement}`,
    ]),
  );
  const pebble = keep(
    spawn('pebble', ['-config', config, '-dnsserver', `127.0.0.1:${dns}`], {
      env: { ...process.env, PEBBLE_VA_NOSLEEP: '1' },
    }),
  );
  const ca = readFileSync(cert, 'utf8');
  const get = (url: string) =>
    new Promise<{ status: number; body: string }>((resolve) => {
      https
        .get(url, { ca }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', () => resolve({ status: 0, body: '' }));
    });
  const directory = `https://127.0.0.1:${acme}/dir`;
  await waitFor(
    'Pebble to answer',
    async () => ((await get(directory)).status === 200 ? true : undefined),
    20_000,
  );
  const stopOne = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.on('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return {
    directory,
    serverCertFile: cert,
    async issuingRoot() {
      const r = await get(`https://127.0.0.1:${management}/roots/0`);
      if (r.status !== 200) throw new Error(`Pebble's root: ${r.status}`);
      return r.body;
    },
    issued: () => (output.match(/Issued certificate serial/g) ?? []).length,
    log: () => output,
    async stop() {
      await Promise.all([stopOne(pebble), stopOne(challenges)]);
    },
  };
}
