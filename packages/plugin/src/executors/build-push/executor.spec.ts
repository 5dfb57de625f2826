import type { ExecutorContext } from '@nx/devkit';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { log } from '../../shell/log';
import buildPush from './executor';

/**
 * A fake `docker` on PATH: it keeps its login where docker does (`$DOCKER_CONFIG`, else
 * `~/.docker`) and writes one line per call to $FAKE_ENGINE_LOG.
 */
const FAKE_DOCKER = `#!/bin/sh
cfg="\${DOCKER_CONFIG:-$HOME/.docker}"
case "$1" in
  version) echo '{}' ;;
  login)
    pw=$(cat)
    echo "login config=$cfg mode=$(stat -c %a "$cfg" 2>/dev/null) argv=$*" >> "$FAKE_ENGINE_LOG"
    echo "login stdin=$pw" >> "$FAKE_ENGINE_LOG"
    mkdir -p "$cfg"
    PW="$pw" CFG="$cfg/config.json" node -e '
      const fs = require("fs"), f = process.env.CFG;
      const c = fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, "utf8")) : {};
      c.auths = { ...c.auths, [process.argv[1]]: { auth: process.env.PW } };
      fs.writeFileSync(f, JSON.stringify(c));' "$5" ;;
  build)
    echo "build config=$cfg" >> "$FAKE_ENGINE_LOG"
    echo "build settings=$(tr -d ' \n' < "$cfg/config.json") contexts=$(ls "$cfg/contexts" 2>/dev/null)" >> "$FAKE_ENGINE_LOG" ;;
  push)
    echo "push config=$cfg logged-in=$(grep -c auths "$cfg/config.json" 2>/dev/null)" >> "$FAKE_ENGINE_LOG"
    [ -z "$FAKE_PUSH_FAIL" ] || exit 1 ;;
  logout) echo "logout config=$cfg" >> "$FAKE_ENGINE_LOG" ;;
esac
`;

const PASSWORD = 'p4ss-word-of-the-registry';
const TAG = 'rel1';

describe('build-push with the engine', () => {
  let root: string;
  let home: string;
  let engineLog: string;
  let registry: Server;
  let port: number;
  const saved = { ...process.env };

  beforeAll(async () => {
    registry = createServer((req, res) => {
      const url = req.url ?? '';
      if (url === '/v2/') return res.writeHead(200).end('{}');
      // Only the release tag exists, once the engine pushed it: the content tag is new.
      if (req.method === 'GET' && url.endsWith(`/manifests/${TAG}`))
        return res
          .writeHead(200, {
            'content-type': 'application/vnd.oci.image.manifest.v1+json',
            'docker-content-digest': 'sha256:' + 'a'.repeat(64),
          })
          .end('{}');
      if (req.method === 'PUT') return res.writeHead(201).end();
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    port = (registry.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((r) => registry.close(r)));

  beforeEach(() => {
    const base = mkdtempSync(join(tmpdir(), 'conveyor-bp-spec-'));
    root = join(base, 'ws');
    home = join(base, 'home');
    const bin = join(base, 'bin');
    engineLog = join(base, 'engine.log');
    for (const d of [root, home, bin, join(root, 'config/profiles'), join(root, 'dist/shop')])
      mkdirSync(d, { recursive: true });
    writeFileSync(join(bin, 'docker'), FAKE_DOCKER);
    chmodSync(join(bin, 'docker'), 0o755);
    writeFileSync(
      join(root, 'config/profiles/staging.yml'),
      `registry: 127.0.0.1:${port}\nregistry_namespace: acme\nssh_host: example.com\n`,
    );
    writeFileSync(join(root, 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
    writeFileSync(join(root, 'dist/shop/main.js'), 'console.log(1);\n');
    delete process.env['DOCKER_CONFIG'];
    delete process.env['REGISTRY_AUTH_FILE'];
    delete process.env['CONVEYOR_CONTAINER_ENGINE'];
    delete process.env['IMAGE_TAG'];
    Object.assign(process.env, {
      PATH: `${bin}:${saved['PATH']}`,
      HOME: home,
      REGISTRY_USER: 'ci',
      REGISTRY_PASS: PASSWORD,
      FAKE_ENGINE_LOG: engineLog,
    });
    for (const level of ['info', 'warn', 'error'] as const)
      jest.spyOn(log, level).mockImplementation(() => undefined);
  });
  afterEach(() => {
    process.env = { ...saved };
    jest.restoreAllMocks();
  });

  const runIt = () =>
    buildPush(
      {
        profile: 'staging',
        tag: TAG,
        engine: 'docker',
        assemble: false,
        images: [
          {
            component: 'backend',
            dockerfile: 'Dockerfile',
            context: [{ from: 'dist/shop', to: '.' }],
          },
        ],
      },
      { root, cwd: root, projectName: 'shop', targetName: 'build-push' } as ExecutorContext,
    );
  const calls = () => readFileSync(engineLog, 'utf8').trim().split('\n');
  const configOf = (line: string | undefined) => /config=(\S+)/.exec(line ?? '')?.[1] ?? '';

  it('logs in, builds and pushes with a private DOCKER_CONFIG (0700), removed afterwards', async () => {
    expect(await runIt()).toEqual({ success: true });
    const lines = calls();
    const login = lines.find((l) => l.startsWith('login config='));
    const config = configOf(login);
    expect(config).not.toBe(join(home, '.docker'));
    expect(config.startsWith(tmpdir())).toBe(true);
    expect(login).toContain('mode=700');
    expect(configOf(lines.find((l) => l.startsWith('build')))).toBe(config);
    expect(lines.find((l) => l.startsWith('push'))).toBe(`push config=${config} logged-in=1`);
    expect(existsSync(config)).toBe(false);
    expect(existsSync(join(home, '.docker/config.json'))).toBe(false);
  });

  it('gives the password on stdin only, never in argv', async () => {
    expect(await runIt()).toEqual({ success: true });
    const lines = calls();
    expect(lines).toContain(`login stdin=${PASSWORD}`);
    const login = lines.find((l) => l.startsWith('login config=')) ?? '';
    expect(login).toContain('--password-stdin');
    expect(login).not.toContain(PASSWORD);
  });

  it("keeps the user's docker settings and other logins, without its credential store", async () => {
    const user = {
      credsStore: 'desktop',
      currentContext: 'colima',
      auths: { 'other.example.com': { auth: 'b3RoZXI=' }, [`127.0.0.1:${port}`]: { auth: 'old' } },
    };
    mkdirSync(join(home, '.docker/contexts/meta'), { recursive: true });
    writeFileSync(join(home, '.docker/config.json'), JSON.stringify(user));
    expect(await runIt()).toEqual({ success: true });
    const settings = calls().find((l) => l.startsWith('build settings=')) ?? '';
    expect(JSON.parse(/settings=(\S+)/.exec(settings)?.[1] ?? '')).toEqual({
      currentContext: 'colima',
      auths: {
        'other.example.com': { auth: 'b3RoZXI=' },
        [`127.0.0.1:${port}`]: { auth: PASSWORD },
      },
    });
    expect(settings).toContain('contexts=meta');
    expect(JSON.parse(readFileSync(join(home, '.docker/config.json'), 'utf8'))).toEqual(user);
  });

  it('removes the private login when the push fails', async () => {
    process.env['FAKE_PUSH_FAIL'] = '1';
    expect(await runIt()).toEqual({ success: false });
    const config = configOf(calls().find((l) => l.startsWith('login config=')));
    expect(config).not.toBe(join(home, '.docker'));
    expect(existsSync(config)).toBe(false);
    expect(existsSync(join(home, '.docker/config.json'))).toBe(false);
  });
});
