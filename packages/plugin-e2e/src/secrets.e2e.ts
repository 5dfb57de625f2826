/**
 * Issue: application secrets. Real ansible-vault, sshd, ansible-playbook, engine and registry:
 * two secrets set through the secrets target, deployed as files under /run/secrets and read by the
 * backend through secret(); no value in the process list, any output, docker inspect, the Nx
 * cache, the workspace or its history, or host files outside the secrets folder.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  downApp,
  e2eDir,
  gitCommitAll,
  imageBuildArgs,
  mustNx,
  newWorkspace,
  nxAsync,
  portBlock,
  Result,
  sh,
  testEnv,
} from './utils';
import { serverDir } from './host';

const env = testEnv();
const ns = `sec${Date.now().toString(36)}`;
const server = serverDir('secrets');
const backendPort = portBlock('secrets');
const sshKey = readFileSync(env['CONVEYOR_TEST_SSH_KEY'], 'utf8');
const key = `key-${randomBytes(16).toString('hex')}`;
const values = {
  DATABASE_URL: `postgres://app:${randomBytes(12).toString('hex')}@db/app`,
  API_KEY: `sk-${randomBytes(16).toString('hex')}`,
};
const rotated = `sk-rotated-${randomBytes(16).toString('hex')}`;
const fromStore = `store-${randomBytes(16).toString('hex')}`;
/** Every value that must never be seen. */
const allValues = () => [...Object.values(values), rotated, fromStore, key];
const outputs: string[] = [];
const scratch = mkdtempSync(join(e2eDir(), 'secrets-scratch-'));
const tmp = join(scratch, 'tmp');
mkdirSync(tmp, { recursive: true });
const appDir = join(server, 'vault');

function stagingEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...env,
    REGISTRY_URL: env['CONVEYOR_TEST_REGISTRY'],
    REGISTRY_NS: ns,
    STAGING_SSH_HOST: env['CONVEYOR_TEST_SSH_HOST'],
    STAGING_SSH_PORT: env['CONVEYOR_TEST_SSH_PORT'],
    STAGING_SSH_USER: env['CONVEYOR_TEST_SSH_USER'],
    STAGING_SSH_KNOWN_HOSTS: readFileSync(env['CONVEYOR_TEST_SSH_KNOWN_HOSTS'], 'utf8'),
    SSH_KEY_B64: Buffer.from(sshKey).toString('base64'),
    STAGING_DEPLOY_PATH: server,
    STAGING_COMPOSE_COMMAND: env['CONVEYOR_COMPOSE_COMMAND'],
    BACKEND_PORT: String(backendPort),
    CONVEYOR_DEPLOYER: 'e2e',
    PROXY_IMAGE: env['CONVEYOR_PROXY_IMAGE'],
    STAGING_DRAIN_SECONDS: '1',
    CONVEYOR_SECRETS_KEY: key,
    TMPDIR: tmp,
  };
}

async function run(ws: string, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Result> {
  const r = await nxAsync(ws, [...args, '--outputStyle=static'], { ...stagingEnv(), ...extra });
  outputs.push(r.output);
  return r;
}

async function ok(ws: string, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Result> {
  const r = await run(ws, args, extra);
  if (r.code !== 0) throw new Error(`nx ${args.join(' ')} failed:\n${r.output.slice(-8000)}`);
  return r;
}

/** `secrets set NAME` with the value on stdin. */
function setSecret(ws: string, name: string, value: string): Result {
  const r = sh(
    join(ws, 'node_modules', '.bin', 'nx'),
    ['run', 'vault:secrets', '--configuration=staging', 'set', name, '--outputStyle=static'],
    {
      cwd: ws,
      input: `${value}\n`,
      env: {
        ...stagingEnv(),
        NX_DAEMON: 'false',
        NX_NO_CLOUD: 'true',
        NX_TUI: 'false',
        CI: 'true',
      },
    },
  );
  outputs.push(r.output);
  if (r.code !== 0) throw new Error(`secrets set ${name} failed:\n${r.output}`);
  return r;
}

const sha256 = (v: string) => createHash('sha256').update(v).digest('hex');
const checkUrl = (name: string) => `http://127.0.0.1:${backendPort}/secrets-check?name=${name}`;
async function served(name: string): Promise<string> {
  const res = await fetch(checkUrl(name), { signal: AbortSignal.timeout(5000) });
  return res.ok ? ((await res.json()) as { sha256: string }).sha256 : `HTTP ${res.status}`;
}

/** Files under `dir` whose content holds one of the values (paths; `skip` filters them). */
function filesHolding(dir: string, skip: (path: string) => boolean = () => false): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (skip(p)) continue;
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile() && statSync(p).size < 50_000_000) {
        const text = readFileSync(p, 'latin1');
        if (allValues().some((v) => text.includes(v))) found.push(p);
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return found;
}

/** `ps -eo args` every 50 ms while a command runs. */
function sampleProcesses(): { stop: () => string } {
  let seen = '';
  const sampler: ChildProcess = spawn('sh', ['-c', 'while :; do ps -eo args; sleep 0.05; done']);
  sampler.stdout?.on('data', (c: Buffer) => (seen += c.toString('utf8')));
  return {
    stop: () => {
      sampler.kill('SIGTERM');
      return seen;
    },
  };
}

/** What a run left in its temp folder: private folders, or any file holding a value. */
const leftInTmp = () => [
  ...readdirSync(tmp).filter((n) => n.startsWith('conveyor-')),
  ...filesHolding(tmp),
];

const history = () =>
  readFileSync(join(appDir, '.conveyor/history.jsonl'), 'utf8').trim().split('\n').length;

describe('application secrets: encrypted in the repository or from a store, files in the container', () => {
  let ws: string;

  beforeAll(async () => {
    ws = newWorkspace('secrets');
    mustNx(ws, ['g', '@conveyor/plugin:app', 'vault', '--frontend=none', '--no-interactive']);
    // A test-only route: proves the backend holds a secret without printing it.
    const appFile = join(ws, 'apps/vault/backend/src/app.ts');
    const src = readFileSync(appFile, 'utf8')
      .replace(
        "import { createMetrics, metricsFormat } from './metrics';",
        "import { createHash } from 'node:crypto';\nimport { createMetrics, metricsFormat } from './metrics';\nimport { hasSecret, secret } from './secret';",
      )
      .replace(
        '  return app;\n}',
        `  app.get<{ Querystring: { name: string } }>('/secrets-check', async (request, reply) => {
    const name = request.query.name;
    if (!hasSecret(name)) return reply.code(404).send({ ok: false });
    return { sha256: createHash('sha256').update(secret(name)).digest('hex') };
  });
  return app;
}`,
      );
    writeFileSync(appFile, src);
    const projectFile = join(ws, 'apps/vault/project.json');
    const project = JSON.parse(readFileSync(projectFile, 'utf8'));
    project.targets.deploy.options.secrets = ['DATABASE_URL', 'API_KEY'];
    writeFileSync(projectFile, JSON.stringify(project, null, 2));
    gitCommitAll(ws, 'v1');
  });

  afterAll(() => downApp(appDir, env));

  it('set (stdin), list (names only) and check; the file holds no value', async () => {
    const failed = await run(ws, ['run', 'vault:secrets', '--configuration=staging', 'check']);
    expect(failed.code).not.toBe(0);
    expect(failed.output).toContain(
      'vault declares secrets DATABASE_URL, API_KEY, which config/secrets/staging.vault',
    );
    setSecret(ws, 'DATABASE_URL', values.DATABASE_URL);
    setSecret(ws, 'API_KEY', values.API_KEY);
    const list = (await ok(ws, ['run', 'vault:secrets', '--configuration=staging', 'list'])).output;
    expect(list).toMatch(/API_KEY\s+declared/);
    expect(list).toMatch(/DATABASE_URL\s+declared/);
    await ok(ws, ['run', 'vault:secrets', '--configuration=staging', 'check']);
    const file = readFileSync(join(ws, 'config/secrets/staging.vault'), 'utf8');
    expect(file.startsWith('$ANSIBLE_VAULT;1.1;AES256')).toBe(true);
    gitCommitAll(ws, 'secrets');
    await ok(ws, ['run', 'vault:build-push', '--configuration=staging', ...imageBuildArgs(env)]);
  });

  it('deploys two secrets: files under /run/secrets, read through secret(); never in ps, inspect or output', async () => {
    const ps = sampleProcesses();
    const out = (await ok(ws, ['run', 'vault:deploy', '--configuration=staging'])).output;
    const seen = ps.stop();
    expect(seen).toContain('release-bundle');
    for (const v of allValues()) expect(seen).not.toContain(v);
    expect(out).toContain('deploy done');
    expect(await served('DATABASE_URL')).toBe(sha256(values.DATABASE_URL));
    expect(await served('API_KEY')).toBe(sha256(values.API_KEY));
    const engine = env['CONVEYOR_CONTAINER_ENGINE'] || 'docker';
    const ids = sh(engine, ['ps', '-q'], { env: { ...process.env, ...env } })
      .stdout.trim()
      .split('\n');
    const inspect = sh(engine, ['inspect', ...ids.filter(Boolean)], {
      env: { ...process.env, ...env },
    }).output;
    expect(inspect).toContain('/run/secrets/API_KEY');
    for (const v of allValues()) expect(inspect).not.toContain(v);
  });

  it('a changed secret with unchanged images is a new release, without a rebuild', async () => {
    const before = history();
    setSecret(ws, 'API_KEY', rotated);
    const out = (await ok(ws, ['run', 'vault:deploy', '--configuration=staging'])).output;
    expect(out).not.toContain('nothing to do');
    expect(await served('API_KEY')).toBe(sha256(rotated));
    expect(await served('DATABASE_URL')).toBe(sha256(values.DATABASE_URL));
    expect(history()).toBeGreaterThan(before);
    // The same secrets again: a no-op.
    expect((await ok(ws, ['run', 'vault:deploy', '--configuration=staging'])).output).toContain(
      'nothing to do',
    );
  });

  it('wrong key, no key, a damaged file, a failing store, a missing secret: clear errors before the host; the live release keeps serving', async () => {
    const before = history();
    const deploy = (extra: NodeJS.ProcessEnv) =>
      run(ws, ['run', 'vault:deploy', '--configuration=staging', '--force'], extra);
    const cases: [NodeJS.ProcessEnv, string][] = [
      [
        { CONVEYOR_SECRETS_KEY: 'not-the-key' },
        'config/secrets/staging.vault: could not be decrypted with the key',
      ],
      [
        { CONVEYOR_SECRETS_KEY: '' },
        'config/secrets/staging.vault is encrypted and no key is set: set CONVEYOR_SECRETS_KEY',
      ],
      [
        { STAGING_SECRETS_COMMAND: 'echo "vault: permission denied" >&2; exit 2' },
        'the secrets_command of config/profiles/staging.yml failed (exit 2):\nvault: permission denied',
      ],
    ];
    for (const [extra, message] of cases) {
      const r = await deploy(extra);
      expect(r.code).not.toBe(0);
      expect(r.output).toContain(message);
      expect(r.output).toContain('The host was not touched.');
    }
    const file = join(ws, 'config/secrets/staging.vault');
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace(/a/g, 'g'));
    const damaged = await deploy({});
    expect(damaged.output).toContain(
      'config/secrets/staging.vault: not a readable ansible-vault file',
    );
    writeFileSync(file, text);
    const storeFile = join(scratch, 'store.json');
    writeFileSync(storeFile, JSON.stringify({ data: { data: { DATABASE_URL: fromStore } } }));
    const absent = await deploy({ STAGING_SECRETS_COMMAND: `cat ${storeFile}` });
    expect(absent.output).toContain(
      'vault declares secret API_KEY, which the secrets_command of config/profiles/staging.yml (profile "staging") does not have.',
    );
    expect(history()).toBe(before);
    expect(await served('API_KEY')).toBe(sha256(rotated));
  });

  it('from a store command: its output is parsed, never printed', async () => {
    const storeFile = join(scratch, 'store.json');
    writeFileSync(
      storeFile,
      JSON.stringify({ data: { data: { DATABASE_URL: fromStore, API_KEY: rotated } } }),
    );
    const extra = { STAGING_SECRETS_COMMAND: `cat ${storeFile}` };
    await ok(ws, ['run', 'vault:deploy', '--configuration=staging'], extra);
    expect(await served('DATABASE_URL')).toBe(sha256(fromStore));
    const set = await run(
      ws,
      ['run', 'vault:secrets', '--configuration=staging', 'unset', 'API_KEY'],
      extra,
    );
    expect(set.output).toContain('change them in that store');
  });

  it('a rollback, then a secret removed from the profile is gone from the host at the next deploy', async () => {
    // Every release so far ran the same images (only secrets changed): no earlier tag to go back to.
    const back = await run(ws, ['run', 'vault:rollback', '--configuration=staging']);
    expect(back.output).toContain('There is no previous release of vault');
    await ok(ws, ['run', 'vault:deploy', '--configuration=staging']);
    expect(await served('DATABASE_URL')).toBe(sha256(values.DATABASE_URL));
    await ok(ws, ['run', 'vault:secrets', '--configuration=staging', 'unset', 'API_KEY']);
    const projectFile = join(ws, 'apps/vault/project.json');
    const project = JSON.parse(readFileSync(projectFile, 'utf8'));
    project.targets.deploy.options.secrets = ['DATABASE_URL'];
    writeFileSync(projectFile, JSON.stringify(project, null, 2));
    await ok(ws, ['run', 'vault:deploy', '--configuration=staging']);
    expect(await served('API_KEY')).toBe('HTTP 404');
    expect(await served('DATABASE_URL')).toBe(sha256(values.DATABASE_URL));
    // The live colour's folder; the previous colour keeps its release (and secrets) for a quick
    // switch back until the next deploy replaces it.
    const state = JSON.parse(readFileSync(join(appDir, '.conveyor/state.json'), 'utf8')) as {
      current: { color: string };
    };
    expect(readdirSync(join(appDir, state.current.color, 'secrets'))).toEqual(['DATABASE_URL']);
    gitCommitAll(ws, 'API_KEY gone');
  });

  it('edit: the editor changes the file; a killed editor changes nothing; no plaintext left in the temp folder', async () => {
    const editor = join(scratch, 'editor.sh');
    writeFileSync(editor, `#!/bin/sh\nprintf 'EXTRA="added-by-editor-1234"\\n' >> "$1"\n`);
    chmodSync(editor, 0o755);
    const out = (
      await ok(ws, ['run', 'vault:secrets', '--configuration=staging', 'edit'], { EDITOR: editor })
    ).output;
    expect(out).toContain('added EXTRA');
    expect(leftInTmp()).toEqual([]);
    const killer = join(scratch, 'killer.sh');
    writeFileSync(killer, `#!/bin/sh\necho 'X=1' >> "$1"\nkill -9 $$\n`);
    chmodSync(killer, 0o755);
    const before = readFileSync(join(ws, 'config/secrets/staging.vault'), 'utf8');
    const killed = await run(ws, ['run', 'vault:secrets', '--configuration=staging', 'edit'], {
      EDITOR: killer,
    });
    expect(killed.code).not.toBe(0);
    expect(killed.output).toContain('the editor was stopped (SIGKILL)');
    expect(readFileSync(join(ws, 'config/secrets/staging.vault'), 'utf8')).toBe(before);
    expect(leftInTmp()).toEqual([]);
    gitCommitAll(ws, 'edited');
  });

  it('no value in any output, the workspace, its git history, the Nx cache, or host files outside the secrets folder', () => {
    for (const output of outputs) for (const v of allValues()) expect(output).not.toContain(v);
    expect(filesHolding(ws, (p) => p.includes('node_modules'))).toEqual([]);
    const git = sh('git', ['log', '-p', '--all'], { cwd: ws }).stdout;
    for (const v of allValues()) expect(git).not.toContain(v);
    expect(filesHolding(server, (p) => /\/secrets$/.test(p))).toEqual([]);
    const hostSecrets = sh('sh', ['-c', `find ${appDir} -path '*/secrets/*' -type f`]).stdout;
    expect(hostSecrets).toContain('DATABASE_URL');
  });
});
