/**
 * A scratch Postgres on this machine: Debian's postgresql binaries (installed by tools/env/up.sh),
 * a new cluster in a temporary folder owned by the postgres user (removed by stop), on a free loopback port, with
 * password authentication. Nothing of Debian's own cluster is touched.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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

export async function startPostgres(): Promise<ScratchPostgres> {
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
  asPostgres([
    bin('pg_ctl'),
    '-D',
    data,
    '-l',
    join(dir, 'log'),
    '-w',
    '-o',
    `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir} -c fsync=off`,
    'start',
  ]);
  // Over the folder's socket (trusted locally); the app connects over TCP with its password.
  asPostgres([bin('createdb'), '-h', dir, '-p', String(port), '-U', 'app', 'app']);
  return {
    url: `postgres://app:${password}@127.0.0.1:${port}/app`,
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
