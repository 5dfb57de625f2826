/**
 * Issue: deploys. Real sshd + ansible-playbook + engine + registry; a local HTTP receiver stands
 * in for Telegram's Bot API (reached through TELEGRAM_API_URL).
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
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
  Result,
  sh,
  testEnv,
  waitFor,
  chromiumPath,
} from './utils';
import { serverDir, sshAs, stagingSshEnv } from './host';

const env = testEnv();
const ns = `dep${Date.now().toString(36)}`;
const server = serverDir('deploy');
const backendPort = portBlock('deploy');
const frontendPort = backendPort + 1;
const telegramToken = `${Math.floor(Math.random() * 1e9)}:${randomBytes(12).toString('hex')}`;
const registryPass = `pw-${randomBytes(10).toString('hex')}`;
const sshKey = readFileSync(env['CONVEYOR_TEST_SSH_KEY'], 'utf8');
const buildArgs = imageBuildArgs(env);

interface Message {
  path: string;
  body: { chat_id: string; text: string };
}
const messages: Message[] = [];
let receiver: Server;
const outputs: string[] = [];

function stagingEnv(): NodeJS.ProcessEnv {
  const port = (receiver.address() as AddressInfo).port;
  return {
    ...stagingSshEnv({ ns, deployPath: server, backendPort, frontendPort }),
    REGISTRY_USER: 'conveyor-ci',
    REGISTRY_PASS: registryPass,
    TELEGRAM_TOKEN: telegramToken,
    TELEGRAM_CHAT_ID: '4242',
    TELEGRAM_API_URL: `http://127.0.0.1:${port}`,
    STAGING_DRAIN_SECONDS: '1',
  };
}

/** Runs nx without blocking this process: the Telegram receiver and fetch's connection pool keep working. */
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

const appDir = join(server, 'market');
/** The host's history (one JSON object per line), and the releases that went live in it. */
const history = () =>
  existsSync(join(appDir, '.conveyor/history.jsonl'))
    ? readFileSync(join(appDir, '.conveyor/history.jsonl'), 'utf8')
    : '';
const wentLive = () =>
  history()
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { action: string; tag: string; result: string })
    .filter((e) => e.result === 'ok' && (e.action === 'deploy' || e.action === 'rollback'))
    .map((e) => `${e.action} ${e.tag}`)
    .join('\n');
const hostState = () =>
  JSON.parse(readFileSync(join(appDir, '.conveyor/state.json'), 'utf8')) as {
    current: { tag: string; color: string };
    previous: { tag: string };
  };
const live = async () =>
  (await getJson(`http://127.0.0.1:${backendPort}/metrics`))['version'] as {
    git_sha: string;
    image_tag: string;
  };

describe('deploy and rollback over real SSH with Ansible', () => {
  let ws: string;
  const sha: string[] = [];

  const release = async (change: (src: string) => string, message: string) => {
    const file = join(ws, 'apps/market/backend/src/app.ts');
    writeFileSync(file, change(readFileSync(file, 'utf8')));
    const s = gitCommitAll(ws, message);
    await ok(ws, ['run', 'market:build-push', '--configuration=staging', ...buildArgs]);
    return s;
  };

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let data = '';
      req.on('data', (c) => (data += c));
      req.on('end', () => {
        messages.push({ path: req.url ?? '', body: JSON.parse(data || '{}') });
        res.setHeader('Content-Type', 'application/json');
        res.end('{"ok":true,"result":{}}');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    ws = newWorkspace('deploy');
    mustNx(ws, ['g', '@conveyor/plugin:app', 'market', '--no-interactive']);
    sha.push(gitCommitAll(ws, 'v1'));
    await ok(ws, ['run', 'market:build-push', '--configuration=staging', ...buildArgs]);
  });

  afterAll(async () => {
    downApp(appDir, env);
    await new Promise((r) => receiver.close(r));
  });

  it('--dryRun prints the plan and changes nothing', async () => {
    const out = (await ok(ws, ['run', 'market:deploy', '--configuration=staging', '--dryRun']))
      .output;
    expect(out).toContain(
      `${env['CONVEYOR_TEST_SSH_USER']}@127.0.0.1:${env['CONVEYOR_TEST_SSH_PORT']}:${appDir}`,
    );
    expect(out).toContain(`${env['CONVEYOR_TEST_REGISTRY']}/${ns}/market_backend:${sha[0]}`);
    // Conveyor's own playbook and no Ansible hook: one SSH command instead of a playbook run.
    expect(out).toContain('/market/.conveyor/conveyor-host.pyz release-bundle');
    expect(existsSync(appDir)).toBe(false);
  });

  it('deploys v1, then v2; /metrics on the host shows each sha; Telegram hears of each', async () => {
    await ok(ws, ['run', 'market:deploy', '--configuration=staging']);
    expect(await live()).toEqual({ git_sha: sha[0], image_tag: sha[0] });
    expect((await fetch(`http://127.0.0.1:${frontendPort}/`)).status).toBe(200);
    const viaProxy = (await (
      await fetch(`http://127.0.0.1:${frontendPort}/api/metrics`)
    ).json()) as { version: { image_tag: string } };
    expect(viaProxy.version.image_tag).toBe(sha[0]);

    sha.push(await release((s) => s.concat('\n// v2\n'), 'v2'));
    await ok(ws, ['run', 'market:deploy', '--configuration=staging']);
    expect(await live()).toEqual({ git_sha: sha[1], image_tag: sha[1] });
    expect(wentLive()).toBe(`deploy ${sha[0]}\ndeploy ${sha[1]}`);
    expect(hostState().previous.tag).toBe(sha[0]);

    const deployed = messages.filter((m) => m.body.text.includes('succeeded'));
    expect(deployed).toHaveLength(2);
    for (const [i, m] of deployed.entries()) {
      expect(m.path).toBe(`/bot${telegramToken}/sendMessage`);
      expect(m.body.chat_id).toBe('4242');
      expect(m.body.text).toContain('app: market');
      expect(m.body.text).toContain('environment: staging');
      expect(m.body.text).toContain(`tag: ${sha[i]}`);
      expect(m.body.text).toContain('result: ok');
      expect(m.body.text).toMatch(/duration: \d+\.\ds/);
    }
  });

  it('deploying the live tag again is a fast no-op', async () => {
    const before = wentLive();
    const out = (await ok(ws, ['run', 'market:deploy', '--configuration=staging'])).output;
    expect(out).toContain(`${sha[1]} is already live and healthy on staging: nothing to do`);
    expect(wentLive()).toBe(before);
    expect(out).not.toContain('phase=pull');
  });

  it('a v3 whose /health fails is rolled back automatically; v2 still answers; the executor fails clearly', async () => {
    const broken = (src: string) => {
      const out = src.replace(
        /app\.get\('\/health'.*\n/,
        "app.get('/health', async (_req, reply) => reply.code(500).send({ ok: false }));\n",
      );
      expect(out).not.toBe(src);
      return out;
    };
    sha.push(await release(broken, 'v3 broken'));
    const before = wentLive();
    const r = await run(ws, [
      'run',
      'market:deploy',
      '--configuration=staging',
      '--healthTimeout=10',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain(
      `deploy of ${sha[2]} failed (backend did not answer /health on port`,
    );
    expect(r.output).toContain(`${sha[1]} is live: it kept serving`);
    expect(await live()).toEqual({ git_sha: sha[1], image_tag: sha[1] });
    expect(wentLive()).toBe(before);
    expect(JSON.parse(history().trim().split('\n').pop() as string)).toMatchObject({
      action: 'deploy',
      tag: sha[2],
      result: 'failed',
      phase: 'gate',
    });
    const notice = messages[messages.length - 1].body.text;
    expect(notice).toContain(`tag: ${sha[2]}`);
    expect(notice).toContain('result: rolled-back');
    expect(notice).toContain(`live now: ${sha[1]}`);
  });

  it('rollback goes to the previous release (v1) with the same gate and history', async () => {
    await ok(ws, ['run', 'market:rollback', '--configuration=staging']);
    // v1 and v2 differ by a comment only, so v2's images are v1's re-tagged: /metrics must still
    // report each release's own commit.
    expect(await live()).toEqual({ git_sha: sha[0], image_tag: sha[0] });
    expect(wentLive().split('\n').pop()).toBe(`rollback ${sha[0]}`);
    expect(messages[messages.length - 1].body.text).toContain(
      `rollback of ${sha[0]} to staging succeeded`,
    );
    await ok(ws, ['run', 'market:rollback', '--configuration=staging', `--to=${sha[1]}`]);
    expect(await live()).toEqual({ git_sha: sha[1], image_tag: sha[1] });
  });

  it('a lock left by an older deploy is named, and broken only with --breakLock', async () => {
    const lock = join(appDir, '.conveyor/lock');
    // The last switch's old colour stops after its drain time, under the same lock: let that finish first.
    await waitFor(
      'the stop after the drain time',
      async () => (existsSync(lock) ? undefined : true),
      60_000,
    );
    await new Promise((r) => setTimeout(r, 1500));
    await waitFor(
      'the stop after the drain time',
      async () => (existsSync(lock) ? undefined : true),
      60_000,
    );
    mkdirSync(lock);
    writeFileSync(
      join(lock, 'holder'),
      'anna@laptop since 2026-11-26T10:00:00Z (deploy abc1234)\n',
    );
    const before = wentLive();
    const args = [
      'run',
      'market:deploy',
      '--configuration=staging',
      '--force',
      `--tag=${sha[1]}`,
      '--lockTimeout=2',
    ];
    const r = await run(ws, args);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('anna@laptop since 2026-11-26T10:00:00Z (deploy abc1234)');
    expect(r.output).toContain('--breakLock');
    expect(wentLive()).toBe(before);
    expect(existsSync(lock)).toBe(true);

    await ok(ws, [...args, '--breakLock']);
    expect(await live()).toEqual({ git_sha: sha[1], image_tag: sha[1] });
    expect(history()).toContain('"action": "lock-break"');
  });

  describe('bad input: a clear message, and the host history stays as it was', () => {
    const refused = async (extra: NodeJS.ProcessEnv, args: string[] = []) => {
      const before = wentLive();
      const current = hostState().current.tag;
      const r = await run(
        ws,
        [
          'run',
          'market:deploy',
          '--configuration=staging',
          '--force',
          ...(args.some((a) => a.startsWith('--tag=')) ? args : [`--tag=${sha[1]}`, ...args]),
        ],
        extra,
      );
      expect(r.code).not.toBe(0);
      expect(wentLive()).toBe(before);
      expect(hostState().current.tag).toBe(current);
      return r.output;
    };

    it('host unreachable', async () => {
      expect(await refused({ STAGING_SSH_PORT: '1' })).toContain('is unreachable over SSH');
    });
    it('SSH auth refused', async () => {
      const other = join(mkdtempSync(join(e2eDir(), 'key-')), 'id');
      must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
      expect(
        await refused({ SSH_KEY_B64: Buffer.from(readFileSync(other, 'utf8')).toString('base64') }),
      ).toContain(`SSH login to ${env['CONVEYOR_TEST_SSH_USER']}@127.0.0.1`);
    });
    it('missing environment variable, named', async () => {
      expect(await refused({ STAGING_SSH_HOST: '' })).toContain(
        'key "ssh_host" needs environment variable STAGING_SSH_HOST',
      );
    });
    it('image tag not in the registry, checked before touching the host', async () => {
      expect(await refused({}, ['--tag=not-pushed'])).toContain(
        `market_backend:not-pushed is not in the registry`,
      );
    });
    it('compose failure leaves the live release serving', async () => {
      const out = await refused({
        STAGING_COMPOSE_COMMAND: `${env['CONVEYOR_COMPOSE_COMMAND']} --file missing.yml`,
      });
      expect(out).toMatch(/deploy of \w+ failed/);
      expect((await live()).image_tag).toBe(sha[1]);
    });
  });

  it('the host keeps no registry login after a deploy with credentials', () => {
    const config = sshAs(
      env['CONVEYOR_TEST_SSH_USER'],
      'cat ~/.docker/config.json 2>/dev/null; true',
    );
    expect(config.code).toBe(0);
    expect(config.stdout).not.toContain(registryPass);
    expect(config.stdout).not.toContain(
      Buffer.from(`conveyor-ci:${registryPass}`).toString('base64'),
    );
  });

  it('a pinned host key is checked even when CI sets ANSIBLE_HOST_KEY_CHECKING=False', async () => {
    const other = join(mkdtempSync(join(e2eDir(), 'hostkey-')), 'key');
    must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const wrong = `[127.0.0.1]:${env['CONVEYOR_TEST_SSH_PORT']} ${readFileSync(`${other}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`;
    const before = wentLive();
    const r = await run(
      ws,
      ['run', 'market:deploy', '--configuration=staging', '--force', `--tag=${sha[0]}`],
      {
        ANSIBLE_HOST_KEY_CHECKING: 'False',
        STAGING_SSH_KNOWN_HOSTS: wrong,
      },
    );
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('does not match STAGING_SSH_KNOWN_HOSTS');
    expect(wentLive()).toBe(before);
  });

  it('a build-push record of another commit than HEAD is not deployed by accident', async () => {
    must('git', ['checkout', '-q', sha[0]], { cwd: ws });
    try {
      const r = await run(ws, ['run', 'market:deploy', '--configuration=staging']);
      expect(r.code).not.toBe(0);
      expect(r.output).toContain(`is of commit ${sha[2]}, but HEAD is ${sha[0]}`);
      expect(r.output).toContain(`--tag=${sha[2]}`);
      expect((await live()).image_tag).toBe(sha[1]);
    } finally {
      must('git', ['checkout', '-q', 'main'], { cwd: ws });
    }
  });

  describe('a second environment on the same host', () => {
    const prodPort = backendPort + 100;
    const production = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
      PRODUCTION_SSH_HOST: env['CONVEYOR_TEST_SSH_HOST'],
      PRODUCTION_SSH_PORT: env['CONVEYOR_TEST_SSH_PORT'],
      PRODUCTION_SSH_USER: env['CONVEYOR_TEST_SSH_USER'],
      PRODUCTION_SSH_KNOWN_HOSTS: readFileSync(env['CONVEYOR_TEST_SSH_KNOWN_HOSTS'], 'utf8'),
      PRODUCTION_DEPLOY_PATH: server,
      PRODUCTION_COMPOSE_COMMAND: env['CONVEYOR_COMPOSE_COMMAND'],
      PRODUCTION_DRAIN_SECONDS: '1',
      ...extra,
    });
    const prodServer = serverDir('production');
    const deployProd = (extra: NodeJS.ProcessEnv, tag = sha[0]) =>
      run(
        ws,
        [
          'run',
          'market:deploy',
          '--configuration=production',
          `--tag=${tag}`,
          '--healthTimeout=20',
        ],
        production(extra),
      );
    afterAll(() => downApp(join(prodServer, 'market'), env));

    it('refuses to deploy over the other environment in the same folder, naming it', async () => {
      // Its own ports (the doctor's checks would refuse staging's), the folder staging uses.
      const r = await deployProd({
        BACKEND_PORT: String(prodPort),
        FRONTEND_PORT: String(prodPort + 1),
      });
      expect(r.code).not.toBe(0);
      expect(r.output).toContain(
        "holds market of environment 'staging'; this 'production' deploy would replace it",
      );
      expect((await live()).image_tag).toBe(sha[1]);
    });

    it('refuses the same app and environment from a second folder on the host, naming the project', async () => {
      const r = await run(
        ws,
        ['run', 'market:deploy', '--configuration=staging', '--force', `--tag=${sha[1]}`],
        { STAGING_DEPLOY_PATH: serverDir('elsewhere') },
      );
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(
        /compose project market-staging-(blue|green|proxy) already runs from /,
      );
      expect((await live()).image_tag).toBe(sha[1]);
    });

    it('refuses ports another release holds, naming the port', async () => {
      const r = await deployProd({ PRODUCTION_DEPLOY_PATH: prodServer });
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(
        /port\(s\) [\d, ]+ are in use by something other than market's containers/,
      );
      expect(r.output).toContain('the host is not ready');
      expect((await live()).image_tag).toBe(sha[1]);
    });

    it('runs beside it with its own folder and ports; moving it from recreate to blue-green never leaves nothing serving', async () => {
      const own = {
        PRODUCTION_DEPLOY_PATH: prodServer,
        BACKEND_PORT: String(prodPort),
        FRONTEND_PORT: String(prodPort + 1),
      };
      await ok(
        ws,
        ['run', 'market:deploy', '--configuration=production', `--tag=${sha[0]}`],
        production({ ...own, PRODUCTION_DEPLOY_STRATEGY: 'recreate' }),
      );
      const prod = async () =>
        (
          (await getJson(`http://127.0.0.1:${prodPort}/metrics`))['version'] as {
            image_tag: string;
          }
        ).image_tag;
      expect(await prod()).toBe(sha[0]);
      // Automatic rollback of recreate: the broken v3 is replaced by v1 again, which reports its own
      // commit although its images are v2's (re-tagged: v1 and v2 differ by a comment only).
      const broken = await run(
        ws,
        [
          'run',
          'market:deploy',
          '--configuration=production',
          `--tag=${sha[2]}`,
          '--healthTimeout=8',
        ],
        production({ ...own, PRODUCTION_DEPLOY_STRATEGY: 'recreate' }),
      );
      expect(broken.code).not.toBe(0);
      expect(broken.output).toContain(`rolled back automatically: ${sha[0]} is live again`);
      await waitFor('v1 back on production', async () =>
        (await prod()) === sha[0] ? true : undefined,
      );
      expect((await getJson(`http://127.0.0.1:${prodPort}/metrics`))['version']).toEqual({
        git_sha: sha[0],
        image_tag: sha[0],
      });
      // A proxy image that cannot be pulled: the recreate release keeps serving.
      const bad = await deployProd(
        { ...own, PROXY_IMAGE: 'localhost/conveyor/no-such-proxy:1' },
        sha[1],
      );
      expect(bad.code).not.toBe(0);
      expect(bad.output).toContain('no-such-proxy');
      expect(await prod()).toBe(sha[0]);
      await ok(
        ws,
        ['run', 'market:deploy', '--configuration=production', `--tag=${sha[1]}`],
        production(own),
      );
      expect(await prod()).toBe(sha[1]);
      expect((await live()).image_tag).toBe(sha[1]);
      const names = sh('docker', ['ps', '--format', '{{.Names}}'], {
        env: { ...process.env, ...env },
      }).stdout;
      expect(names).toMatch(/market-staging-(blue|green)/);
      expect(names).toMatch(/market-production-(blue|green)/);
    });
  });

  it("a fast rollback (the old colour still runs) reports the release's own commit, with re-tagged images", async () => {
    const slow = { STAGING_DRAIN_SECONDS: '30' };
    await ok(
      ws,
      ['run', 'market:deploy', '--configuration=staging', '--force', `--tag=${sha[0]}`],
      slow,
    );
    expect(await live()).toEqual({ git_sha: sha[0], image_tag: sha[0] });
    const r = await ok(ws, ['run', 'market:rollback', '--configuration=staging'], slow);
    expect(r.output).toContain('the proxy switched back (no pull, no start)');
    expect(await live()).toEqual({ git_sha: sha[1], image_tag: sha[1] });
  });

  it('a failure after the switch (the history cannot be written) never stops the colour that took the traffic', async () => {
    const file = join(appDir, '.conveyor/history.jsonl');
    const before = history();
    chmodSync(file, 0o444);
    try {
      const r = await ok(ws, [
        'run',
        'market:deploy',
        '--configuration=staging',
        '--force',
        `--tag=${sha[0]}`,
      ]);
      expect(r.output).toContain('the release is live, but its history entry could not be written');
    } finally {
      chmodSync(file, 0o640);
    }
    expect(await live()).toEqual({ git_sha: sha[0], image_tag: sha[0] });
    expect(hostState().current.tag).toBe(sha[0]);
    expect(history()).toBe(before);
    const status = await run(ws, ['run', 'market:status', '--configuration=staging']);
    expect(status.code).toBe(0);
    expect(status.output).toContain(`live:     ${sha[0]}`);
  });

  it('browser-test: the generated Playwright test passes in Chromium against the live release, and fails for a release whose page is broken', async () => {
    const browser = { CHROMIUM_PATH: chromiumPath() };
    const before = hostState().current.tag;
    const passed = await run(
      ws,
      ['run', 'market:browser-test', '--configuration=staging'],
      browser,
    );
    // When it fails: its output and the page as Playwright saw it (error-context.md).
    const seen = () =>
      sh('sh', ['-c', `cat ${join(ws, 'dist/.playwright')}/*/*/e2e/test-output/*/error-context.md`])
        .stdout;
    expect(passed.code === 0 ? '' : passed.output.slice(-3000) + seen()).toBe('');
    expect(passed.output).toContain(
      `Browser tests of market at http://${env['CONVEYOR_TEST_SSH_HOST']}:${frontendPort}: the page must show ${before}.`,
    );
    expect(passed.output).toMatch(/1 passed/);
    // A release whose page throws when it renders: it deploys (its ports answer), the browser test fails.
    // The live release's backend (earlier tests left a failing one at HEAD), a page that throws.
    must('git', ['checkout', before, '--', 'apps/market/backend'], { cwd: ws });
    const file = join(ws, 'apps/market/frontend/src/App.tsx');
    const good = readFileSync(file, 'utf8');
    writeFileSync(
      file,
      good.replace(
        'export function App() {',
        "export function App() {\n  if (APP_NAME) throw new Error('broken');",
      ),
    );
    const broken = gitCommitAll(ws, 'a page that does not render');
    await ok(ws, ['run', 'market:build-push', '--configuration=staging', ...buildArgs]);
    await ok(ws, ['run', 'market:deploy', '--configuration=staging', `--tag=${broken}`]);
    const failed = await run(
      ws,
      ['run', 'market:browser-test', '--configuration=staging'],
      browser,
    );
    expect(failed.code).not.toBe(0);
    expect(failed.output).toContain(`Browser tests of market failed against ${broken}`);
    expect(failed.output).toMatch(/1 failed/);
    writeFileSync(file, good);
    await ok(ws, ['run', 'market:deploy', '--configuration=staging', `--tag=${before}`]);
  });

  it('no output and no notice contains the registry password, the SSH key or the Telegram token', async () => {
    const all = outputs.join('\n') + JSON.stringify(messages.map((m) => m.body));
    const keyBody = sshKey.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
    expect(keyBody.length).toBeGreaterThan(0);
    for (const secret of [
      registryPass,
      telegramToken,
      Buffer.from(sshKey).toString('base64'),
      ...keyBody,
    ]) {
      expect(all.includes(secret)).toBe(false);
    }
    expect(all).toContain('deploy');
  });
});
