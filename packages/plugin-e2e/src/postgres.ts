/**
 * A scratch Postgres on this machine: Debian's postgresql binaries (installed by tools/env/up.sh),
 * a new cluster in a temporary folder owned by the postgres user (removed by stop), on a free loopback port, with
 * password authentication. Nothing of Debian's own cluster is touched.
 */
import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './prometheus';

export interface ScratchPostgres {
  /** postgres://app:<password>@127.0.0.1:<port>/app */
  url: string;
  port: number;
  stop(): void;
}

function bin(name: string): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort() : [];
  const found = versions.map((v) => join(root, v, 'bin', name)).find((p) => existsSync(p));
  if (!found) throw new Error(`${name} of postgresql is missing: run bash tools/env/up.sh`);
  return found;
}

/** Runs a postgresql command as the postgres user (initdb and postgres refuse root). */
function asPostgres(argv: string[]): void {
  const r = spawnSync('runuser', ['-u', 'postgres', '--', ...argv], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr || r.stdout}`);
}

/**
 * The address containers reach this machine at (the source address of its default route): a
 * Postgres listening there is outside every compose project, as a managed database is.
 */
export function machineAddress(): string {
  const route = spawnSync('ip', ['-4', 'route', 'get', '192.0.2.254'], { encoding: 'utf8' }).stdout;
  const src = /\bsrc (\d+\.\d+\.\d+\.\d+)/.exec(route)?.[1];
  if (!src || src.startsWith('127.'))
    throw new Error(`no address of this machine outside loopback (ip route: ${route.trim()})`);
  return src;
}

/**
 * external: it listens on machineAddress() too, and takes password logins from anywhere (the
 * containers' networks): a managed database for the app's containers.
 */
export async function startPostgres(
  options: { external?: boolean } = {},
): Promise<ScratchPostgres> {
  // Under /tmp, not the e2e run's folder (0700 root): the postgres user must reach its files.
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-postgres-'));
  const user = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim();
  const group = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim();
  chownSync(dir, Number(user), Number(group));
  const port = await freePort();
  const password = `pw${Math.random().toString(36).slice(2)}`;
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, password, { mode: 0o600 });
  chownSync(pwfile, Number(user), Number(group));
  const data = join(dir, 'data');
  asPostgres([
    bin('initdb'),
    '-D',
    data,
    '-U',
    'app',
    `--pwfile=${pwfile}`,
    '--auth-host=scram-sha-256',
    '--auth-local=trust',
    '--no-sync',
  ]);
  rmSync(pwfile);
  const host = options.external ? machineAddress() : '127.0.0.1';
  if (options.external)
    appendFileSync(join(data, 'pg_hba.conf'), 'host all all 0.0.0.0/0 scram-sha-256\n');
  asPostgres([
    bin('pg_ctl'),
    '-D',
    data,
    '-l',
    join(dir, 'log'),
    '-w',
    '-o',
    `-c listen_addresses=${options.external ? `127.0.0.1,${host}` : '127.0.0.1'} -c port=${port} -c unix_socket_directories=${dir} -c fsync=off`,
    'start',
  ]);
  // Over the folder's socket (trusted locally); the app connects over TCP with its password.
  asPostgres([bin('createdb'), '-h', dir, '-p', String(port), '-U', 'app', 'app']);
  return {
    url: `postgres://app:${password}@${host}:${port}/app`,
    port,
    stop() {
      spawnSync('runuser', [
        '-u',
        'postgres',
        '--',
        bin('pg_ctl'),
        '-D',
        data,
        '-m',
        'fast',
        '-w',
        'stop',
      ]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
