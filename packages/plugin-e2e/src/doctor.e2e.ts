/**
 * Issue: servers from nothing (doctor). The test sshd as the non-root user deploy: the host is
 * ready; each missing prerequisite (compose, a free public port, the registry) is named.
 */
import { readFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { mustNx, newWorkspace, nx, portBlock, runApp, testEnv } from './utils';
import { serverDir } from './host';

const env = testEnv();
const server = serverDir('doctor');
const backendPort = portBlock('doctor');
const APP = runApp('market');
const frontendPort = backendPort + 1;

function stagingEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...env,
    REGISTRY_URL: env['CONVEYOR_TEST_REGISTRY'],
    REGISTRY_NS: 'doctor',
    STAGING_SSH_HOST: env['CONVEYOR_TEST_SSH_HOST'],
    STAGING_SSH_PORT: env['CONVEYOR_TEST_SSH_PORT'],
    STAGING_SSH_USER: env['CONVEYOR_TEST_SSH_USER'],
    STAGING_SSH_KNOWN_HOSTS: readFileSync(env['CONVEYOR_TEST_SSH_KNOWN_HOSTS'], 'utf8'),
    SSH_KEY_B64: Buffer.from(readFileSync(env['CONVEYOR_TEST_SSH_KEY'], 'utf8')).toString('base64'),
    STAGING_DEPLOY_PATH: server,
    STAGING_COMPOSE_COMMAND: env['CONVEYOR_COMPOSE_COMMAND'],
    BACKEND_PORT: String(backendPort),
    FRONTEND_PORT: String(frontendPort),
    ...extra,
  };
}

describe('doctor over real SSH as the deploy user', () => {
  let ws: string;
  const doctor = (extra: NodeJS.ProcessEnv = {}) =>
    nx(
      ws,
      ['run', `${APP}:doctor`, '--configuration=staging', '--outputStyle=static'],
      stagingEnv(extra),
    );

  beforeAll(() => {
    ws = newWorkspace('doctor');
    mustNx(ws, ['g', '@conveyor/plugin:app', APP, '--no-interactive']);
  });

  it('passes on the test host, one line per check', () => {
    const r = doctor();
    if (r.code !== 0) throw new Error(r.output.slice(-4000));
    for (const check of [
      'container engine',
      'engine access',
      'compose',
      'free disk',
      'public ports',
      'registry',
      'python3',
    ])
      expect(r.output).toMatch(new RegExp(`ok {3}${check}: `));
    expect(r.output).toMatch(/(ok {3}|skip )clock: /);
    expect(r.output).toContain(
      `deploy@127.0.0.1:${env['CONVEYOR_TEST_SSH_PORT']}:${server}/${APP}`,
    );
    expect(r.output).not.toMatch(/FIX {2}/);
  });

  it('names the compose command when it does not answer', () => {
    const r = doctor({ STAGING_COMPOSE_COMMAND: 'conveyor-no-such-compose' });
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/FIX {2}compose: the compose command "conveyor-no-such-compose"/);
    expect(r.output.match(/FIX {2}/g)).toHaveLength(1);
  });

  it("names a public port held by something other than the app's containers", async () => {
    const other: Server = createServer((_q, s) => s.end('not the app'));
    await new Promise<void>((r) => other.listen(frontendPort, '127.0.0.1', r));
    try {
      const r = doctor();
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(
        new RegExp(`FIX {2}public ports: port\\(s\\) ${frontendPort} are in use`),
      );
      expect(r.output.match(/FIX {2}/g)).toHaveLength(1);
    } finally {
      await new Promise((r) => other.close(r));
    }
  });

  it('names the registry when the host cannot reach it', () => {
    const r = doctor({ REGISTRY_URL: '127.0.0.1:1' });
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/FIX {2}registry: the registry 127\.0\.0\.1:1 is not reachable/);
    expect(r.output.match(/FIX {2}/g)).toHaveLength(1);
  });
});
