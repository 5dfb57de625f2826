/**
 * Issue: a real fullstack app's data. Real sshd, ansible-playbook over SSH as the non-root deploy
 * user, engine, registry and Postgres (the test image of tools/env: Debian's postgresql 15 set up
 * like the official image): an app generated with --database=postgres deployed blue-green with
 * its database service on the host (staging), then with a managed Postgres on this machine,
 * outside every compose project, reached only by its DATABASE_URL secret (production).
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { startLoad } from './load';
import { startPostgres, ScratchPostgres } from './postgres';
import { serverDir, stagingSshEnv } from './host';
import {
  chromiumPath,
  downApp,
  e2eDir,
  getJson,
  gitCommitAll,
  imageBuildArgs,
  must,
  mustNx,
  newWorkspace,
  nxAsync,
  portBlock,
  sh,
  testEnv,
} from './utils';

const env = testEnv();
const ns = `db${Date.now().toString(36)}`;
const app = 'ledger';
const staging = { server: serverDir('database'), port: portBlock('database') };
const production = { server: serverDir('database-managed'), port: staging.port + 10 };
const offsite = join(staging.server, 'offsite');
const buildArgs = imageBuildArgs(env);
const outputs: string[] = [];
let ws: string;
let managed: ScratchPostgres;
let secretsFile: string;

type Where = typeof staging;

function profileEnv(where: Where, profile: 'staging' | 'production'): NodeJS.ProcessEnv {
  const base = stagingSshEnv({ ns, deployPath: where.server, backendPort: where.port });
  const upper = profile.toUpperCase();
  const own: NodeJS.ProcessEnv = {
    DATABASE_IMAGE: env['CONVEYOR_POSTGRES_IMAGE'],
    STAGING_DRAIN_SECONDS: '30',
    // Three backups kept; each copied off the host (here: a folder of the deploy user's).
    STAGING_DATABASE_BACKUPS_KEEP: '3',
    STAGING_DATABASE_BACKUP_COMMAND: `mkdir -p ${offsite} && cp "$CONVEYOR_BACKUP_FILE" ${offsite}/`,
  };
  if (profile === 'production')
    for (const k of [
      'SSH_HOST',
      'SSH_PORT',
      'SSH_USER',
      'SSH_KNOWN_HOSTS',
      'DEPLOY_PATH',
      'COMPOSE_COMMAND',
    ])
      own[`PRODUCTION_${k}`] = base[`STAGING_${k}`];
  own[`${upper}_DATABASE`] = profile === 'production' ? 'managed' : 'service';
  if (profile === 'production') own['PRODUCTION_SECRETS_COMMAND'] = `cat ${secretsFile}`;
  return { ...base, ...own };
}

async function run(args: string[], where: Where = staging, extra: NodeJS.ProcessEnv = {}) {
  const profile = where === staging ? 'staging' : 'production';
  const r = await nxAsync(ws, [...args, `--configuration=${profile}`, '--outputStyle=static'], {
    ...profileEnv(where, profile),
    ...extra,
  });
  outputs.push(r.output);
  return r;
}

async function ok(args: string[], where: Where = staging, extra: NodeJS.ProcessEnv = {}) {
  const r = await run(args, where, extra);
  if (r.code !== 0) throw new Error(`nx ${args.join(' ')} failed:\n${r.output.slice(-8000)}`);
  return r;
}

/** A release: the migration files given, committed, built and pushed (staging's record). */
async function release(message: string, files: Record<string, string | null>): Promise<string> {
  for (const [name, sql] of Object.entries(files)) {
    const path = join(ws, `apps/${app}/backend/migrations/${name}.sql`);
    if (sql === null) unlinkSync(path);
    else writeFileSync(path, sql);
  }
  const sha = gitCommitAll(ws, message);
  await ok(['run', `${app}:build-push`, ...buildArgs]);
  return sha;
}

const appDir = (where: Where) => join(where.server, app);
const hostState = (where: Where = staging) =>
  JSON.parse(readFileSync(join(appDir(where), '.conveyor/state.json'), 'utf8'));
const history = (where: Where = staging): Record<string, unknown>[] =>
  readFileSync(join(appDir(where), '.conveyor/history.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
const lastDeploy = (where: Where = staging) =>
  history(where)
    .filter((e) => e['action'] === 'deploy')
    .pop() as Record<string, unknown>;
const live = async (where: Where = staging) =>
  ((await getJson(`http://127.0.0.1:${where.port}/metrics`))['version'] as { image_tag: string })
    .image_tag;

/** SQL on the staging service (docker exec into its container), or the managed Postgres. */
function sql(query: string, where: Where = staging): string {
  if (where === production) {
    const bin = execFileSync('sh', ['-c', 'ls -d /usr/lib/postgresql/*/bin | tail -1'], {
      encoding: 'utf8',
    }).trim();
    // Its password in the environment, never in argv (a failure message prints argv).
    const u = new URL(managed.url);
    return must(join(bin, 'psql'), ['-XAtc', query], {
      env: {
        ...process.env,
        PGHOST: u.hostname,
        PGPORT: u.port,
        PGUSER: u.username,
        PGPASSWORD: decodeURIComponent(u.password),
        PGDATABASE: u.pathname.slice(1),
      },
    }).stdout.trim();
  }
  const withEngine = { ...process.env, ...env };
  const id = sh(
    'docker',
    ['ps', '-q', '--filter', `label=com.docker.compose.project=${app}-staging-db`],
    { env: withEngine },
  ).stdout.trim();
  if (!id) throw new Error(`no running container of ${app}-staging-db`);
  return must('docker', ['exec', id, 'psql', '-U', 'app', '-d', 'app', '-XAtc', query], {
    env: withEngine,
  }).stdout.trim();
}

async function addNote(body: string, where: Where = staging): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${where.port}/notes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ body }),
  });
  if (res.status !== 201) throw new Error(`POST /notes: ${res.status} ${await res.text()}`);
}

const noteCount = (where: Where = staging) => Number(sql('SELECT count(*) FROM notes', where));
const columns = (where: Where = staging) =>
  sql(
    "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'notes'",
    where,
  );

const ADD_TAG = '-- Up Migration\nALTER TABLE notes ADD COLUMN tag text;\n';
const sha: Record<string, string> = {};

beforeAll(async () => {
  managed = await startPostgres({ external: true });
  const scratch = mkdtempSync(join(e2eDir(), 'database-secrets-'));
  secretsFile = join(scratch, 'production.env');
  writeFileSync(secretsFile, `DATABASE_URL=${managed.url}\n`, { mode: 0o600 });
  ws = newWorkspace('database');
  mustNx(ws, [
    'g',
    '@conveyor/plugin:app',
    app,
    '--database=postgres',
    `--backendPort=${staging.port}`,
    `--frontendPort=${staging.port + 1}`,
    '--no-interactive',
  ]);
  sha['v1'] = gitCommitAll(ws, 'v1');
  await ok(['run', `${app}:build-push`, ...buildArgs]);
  await ok(['run', `${app}:deploy`]);
}, 900_000);

afterAll(() => {
  for (const where of [staging, production]) downApp(appDir(where), env);
  const withEngine = { ...process.env, ...env };
  const [bin, ...args] = (env['CONVEYOR_COMPOSE_COMMAND'] ?? 'docker compose').split(' ');
  sh(bin, [...args, 'down', '-v'], { cwd: join(appDir(staging), 'database'), env: withEngine });
  managed?.stop();
});

describe('an app with a database service on its host', () => {
  it('v1: the first deploy starts the service, runs the migration once and keeps a verified backup from before it', async () => {
    expect(await live()).toBe(sha['v1']);
    const entry = lastDeploy();
    expect(entry['migrations']).toEqual(['1700000000000_create-notes']);
    const backup = JSON.parse(
      readFileSync(join(appDir(staging), 'backups', `${String(entry['backup'])}.json`), 'utf8'),
    );
    expect(backup.verified.tables).toEqual({ 'public.pgmigrations': 0 });
    expect(sql('SELECT name FROM pgmigrations')).toBe('1700000000000_create-notes');
    // The password was made on the host: not in the workspace, the plan or any output.
    const password = readFileSync(
      join(appDir(staging), 'database/secrets/POSTGRES_PASSWORD'),
      'utf8',
    );
    expect(password.length).toBeGreaterThan(20);
    expect(outputs.join('\n')).not.toContain(password);
    expect(sh('git', ['grep', '-q', password], { cwd: ws }).code).not.toBe(0);
  });

  it('v2 with an additive migration under load: 0 failed requests, the rows intact, its backup verified with them', async () => {
    for (let i = 0; i < 5; i++) await addNote(`before v2 #${i}`);
    sha['v2'] = await release('v2: notes get a tag', { '1700000000001_add-tag': ADD_TAG });
    const load = startLoad(`http://127.0.0.1:${staging.port}/notes`, 8);
    await new Promise((r) => setTimeout(r, 1000));
    const deploy = await run(['run', `${app}:deploy`]);
    await new Promise((r) => setTimeout(r, 1000));
    const stats = await load.stop();
    expect(deploy.code === 0 ? '' : deploy.output.slice(-4000)).toBe('');
    expect(stats.failed).toBe(0);
    expect(stats.requests).toBeGreaterThan(100);
    expect(await live()).toBe(sha['v2']);
    expect(noteCount()).toBe(5);
    expect(columns()).toBe('body,created_at,id,tag');
    const entry = lastDeploy();
    expect(entry['migrations']).toEqual(['1700000000001_add-tag']);
    const backup = JSON.parse(
      readFileSync(join(appDir(staging), 'backups', `${String(entry['backup'])}.json`), 'utf8'),
    );
    expect(backup.verified.tables['public.notes']).toBe(5);
    expect(backup.reason).toBe('before-migration');
  });

  it('a fast rollback to v1 after the additive migration: v1 serves and works against the expanded schema; no migration goes down', async () => {
    const r = await ok(['run', `${app}:rollback`]);
    expect(r.output).toContain('switched back');
    expect(await live()).toBe(sha['v1']);
    await addNote('written by v1 after the rollback');
    expect(noteCount()).toBe(6);
    expect(columns()).toBe('body,created_at,id,tag');
    await ok(['run', `${app}:deploy`, `--tag=${sha['v2']}`]);
    expect(await live()).toBe(sha['v2']);
  });

  it('a release whose migration fails: the deploy fails, v2 keeps serving, the schema is unchanged', async () => {
    const bad = await release('v3: a failing migration', {
      '1700000000002_bad':
        '-- Up Migration\nALTER TABLE notes ADD COLUMN size int;\nALTER TABLE nowhere ADD COLUMN x int;\n',
    });
    const r = await run(['run', `${app}:deploy`]);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('the migrations failed');
    expect(r.output).toContain('nowhere');
    expect(await live()).toBe(sha['v2']);
    expect(columns()).toBe('body,created_at,id,tag');
    expect(sql('SELECT count(*) FROM pgmigrations')).toBe('2');
    expect(history().pop()).toMatchObject({ result: 'failed', phase: 'migrate', tag: bad });
    await release('v3 without the failing migration', { '1700000000002_bad': null });
  });

  it('a dropping migration is refused before anything runs, naming the statement; with --allowBreakingMigration it runs and the history says so', async () => {
    const drop = await release('v4: drop the tag', {
      '1700000000003_drop-tag': '-- Up Migration\nALTER TABLE notes DROP COLUMN tag;\n',
    });
    const backups = () => sh('ls', [join(appDir(staging), 'backups')]).stdout;
    const before = backups();
    const refused = await run(['run', `${app}:deploy`]);
    expect(refused.code).not.toBe(0);
    expect(refused.output).toContain('ALTER TABLE notes DROP COLUMN tag');
    expect(refused.output).toContain('drops column notes.tag');
    expect(refused.output).toContain('--allowBreakingMigration');
    expect(await live()).toBe(sha['v2']);
    expect(columns()).toBe('body,created_at,id,tag');
    expect(backups()).toBe(before); // nothing ran: not even the backup
    await ok(['run', `${app}:deploy`, '--allowBreakingMigration']);
    expect(await live()).toBe(drop);
    expect(columns()).toBe('body,created_at,id');
    expect(lastDeploy()).toMatchObject({
      migrations: ['1700000000003_drop-tag'],
      breaking_allowed: ['1700000000003_drop-tag'],
    });
  });

  it('db-backup, then db-restore: the rows from before the backup are back, the app is healthy, status lists the backups', async () => {
    const backup = await ok(['run', `${app}:db-backup`]);
    const name = /Backup (\S+) \(/.exec(backup.output)?.[1] as string;
    expect(backup.output).toContain('public.notes 6');
    for (let i = 0; i < 3; i++) await addNote(`after the backup #${i}`);
    sql("DELETE FROM notes WHERE body LIKE 'before v2%'");
    expect(noteCount()).toBe(4);
    const restored = await ok(['run', `${app}:db-restore`, `--from=${name}`]);
    expect(restored.output).toContain('The live release answers its health check');
    expect(noteCount()).toBe(6);
    expect(sql("SELECT count(*) FROM notes WHERE body LIKE 'after the backup%'")).toBe('0');
    expect((await fetch(`http://127.0.0.1:${staging.port}/health`)).status).toBe(200);
    const status = await ok(['run', `${app}:status`]);
    expect(status.output).toMatch(/database: service, \d+ backup\(s\) kept/);
    expect(status.output).toContain(`${name}`);
    expect(status.output).not.toContain('WARNING');
    expect(history().pop()).toMatchObject({ action: 'db-restore', result: 'ok', backup: name });
    // Retention: the newest three of the six backups so far (one before each of four migration
    // runs, the manual one, the one db-restore took first); every one was copied off the host.
    const kept = readdirSync(join(appDir(staging), 'backups')).filter((f) => f.endsWith('.dump'));
    expect(kept.length).toBe(3);
    expect(kept).toContain(`${name}.dump`);
    const copied = readdirSync(offsite);
    expect(copied.length).toBe(6);
    expect(statSync(join(offsite, `${name}.dump`)).size).toBe(
      statSync(join(appDir(staging), 'backups', `${name}.dump`)).size,
    );
  });

  it('the generated Playwright test passes in Chromium against the deployed app: it writes a note on the page and reads it back after a reload', async () => {
    const r = await run(['run', `${app}:browser-test`], staging, { CHROMIUM_PATH: chromiumPath() });
    expect(r.code === 0 ? '' : r.output.slice(-4000)).toBe('');
    expect(r.output).toMatch(/2 passed/);
    expect(Number(sql("SELECT count(*) FROM notes WHERE body LIKE '%'"))).toBeGreaterThan(6);
  });
});

describe('gate.e2e: the browser tests of the new colour before its switch', () => {
  it('a release whose page does not render is stopped before it takes traffic; a good one goes live', async () => {
    const browser = { CHROMIUM_PATH: chromiumPath() };
    const before = await live();
    const file = join(ws, `apps/${app}/frontend/src/App.tsx`);
    const good = readFileSync(file, 'utf8');
    writeFileSync(
      file,
      good.replace(
        'export function App() {',
        "export function App() {\n  if (APP_NAME) throw new Error('broken');",
      ),
    );
    const broken = await release('a page that does not render', {});
    const stopped = await run(['run', `${app}:deploy`, '--gate.e2e'], staging, browser);
    expect(stopped.code).not.toBe(0);
    expect(stopped.output).toContain(
      `gate.e2e: browser tests of ${app} ${broken} against its new colour`,
    );
    expect(stopped.output).toContain(
      'the browser tests failed against the new colour before the switch',
    );
    expect(await live()).toBe(before);
    expect(history().pop()).toMatchObject({ result: 'failed', phase: 'gate', tag: broken });
    writeFileSync(file, good);
    const fixed = await release('the page renders again', {});
    const passed = await run(['run', `${app}:deploy`, '--gate.e2e'], staging, browser);
    expect(passed.code === 0 ? '' : passed.output.slice(-4000)).toBe('');
    expect(passed.output).toContain('gate.e2e on staging-1: passed.');
    expect(await live()).toBe(fixed);
  });
});

describe('an app with a managed database (outside every compose project, reached only by DATABASE_URL)', () => {
  it('deploy migrates it, db-backup backs it up verified, db-restore puts it back', async () => {
    await ok(['run', `${app}:build-push`, ...buildArgs], production);
    await ok(['run', `${app}:deploy`], production);
    expect(await live(production)).toBe(hostState().current.tag);
    expect(sql('SELECT count(*) FROM pgmigrations', production)).toBe('3');
    expect(columns(production)).toBe('body,created_at,id');
    // No database service: Conveyor ran no Postgres container for it.
    expect(existsSync(join(appDir(production), 'database'))).toBe(false);
    for (let i = 0; i < 4; i++) await addNote(`managed #${i}`, production);
    const backup = await ok(['run', `${app}:db-backup`], production);
    expect(backup.output).toContain('public.notes 4');
    const name = /Backup (\S+) \(/.exec(backup.output)?.[1] as string;
    sql('DELETE FROM notes', production);
    await ok(['run', `${app}:db-restore`, `--from=${name}`], production);
    expect(noteCount(production)).toBe(4);
    expect(hostState(production).database.kind).toBe('managed');
    // The URL (and its password) reached the host only as the release's secret file.
    expect(outputs.join('\n')).not.toContain(managed.url.split('@')[0].split(':').pop());
  });
});
