import { spawn, spawnSync } from 'node:child_process';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  abandonedReleases,
  abandonedScript,
  appProjects,
  DOCTOR_CHECKS,
  DOCTOR_MARK,
  doctorCommand,
  doctorInput,
  doctorPassed,
  doctorReport,
  DoctorCheck,
  doctorScript,
  GATE_FAILED,
  gatedScript,
  parseDoctorOutput,
  registryUrls,
} from './doctor';
import type { Profile } from '../config/profile';

const profile = {
  name: 'staging',
  registry: 'registry.example.com:5000',
  connection: 'ssh',
  ssh_host: 'web1.example.com',
  ssh_user: 'deploy',
  ssh_port: 22,
  deploy_path: '/srv/apps/',
  compose_command: 'docker compose',
  edge_name: 'conveyor-edge',
} as Profile;

const input = doctorInput(profile, 'market', [8081, 8080, 8080], { publicPorts: [8080] });

const line = (check: string, status: string, detail: string) =>
  [DOCTOR_MARK, check, status, detail].join('\t');

describe('doctor input', () => {
  it('takes the app path, compose command, registry and projects from the profile', () => {
    expect(input).toEqual({
      app: 'market',
      env: 'staging',
      appPath: '/srv/apps/market',
      composeCommand: 'docker compose',
      registry: 'registry.example.com:5000',
      projects: [
        'market-staging',
        'market-staging-proxy',
        'market-staging-blue',
        'market-staging-green',
        'market',
        'market-proxy',
        'market-blue',
        'market-green',
      ],
      ports: [8080, 8081],
      publicPorts: [8080],
      minFreeGiB: 2,
      edgePorts: [],
      domain: '',
      edgeName: 'conveyor-edge',
    });
    expect(appProjects('shared')).toContain('shared-proxy');
  });

  it('tries https then http for a registry without a scheme, only the given scheme otherwise', () => {
    expect(registryUrls('registry.example.com:5000')).toEqual([
      'https://registry.example.com:5000/v2/',
      'http://registry.example.com:5000/v2/',
    ]);
    expect(registryUrls('http://user@localhost:5055/')).toEqual(['http://localhost:5055/v2/']);
    expect(registryUrls('ghcr.io/acme')).toEqual(['https://ghcr.io/v2/', 'http://ghcr.io/v2/']);
  });
});

describe('doctor script', () => {
  it('quotes every profile value in its assignments', () => {
    const s = doctorScript({ ...input, composeCommand: `x'; rm -rf / #`, appPath: '/a b/$(id)' });
    expect(s).toContain(`COMPOSE='x'\\''; rm -rf / #'`);
    expect(s).toContain(`APP_PATH='/a b/$(id)'`);
    expect(s).toContain('MIN_KB=2097152');
    expect(s).toContain(`PORTS='8080 8081'`);
  });

  it('goes to the host on stdin of `sh -s` in one SSH command', () => {
    const c = doctorCommand(profile, {}, input);
    expect(c.argv.slice(-2)).toEqual(['deploy@web1.example.com', 'sh -s']);
    expect(c.stdin).toBe(doctorScript(input));
  });

  it('passes shellcheck', () => {
    if (spawnSync('shellcheck', ['--version']).status !== 0) return;
    const r = spawnSync('shellcheck', ['-s', 'sh', '-'], {
      input: doctorScript(input),
      encoding: 'utf8',
    });
    expect(r.stdout).toBe('');
  });

  it('names a compose command that does not answer and a free disk below the minimum (run by sh)', () => {
    const s = doctorScript({
      ...input,
      composeCommand: 'conveyor-no-such-compose',
      registry: 'http://127.0.0.1:1',
      minFreeGiB: 1e9,
      ports: [],
      appPath: '/nonexistent/deep/path',
    });
    const r = spawnSync('sh', ['-s'], { input: s, encoding: 'utf8', timeout: 30_000 });
    const checks = parseDoctorOutput(r.stdout);
    const by = Object.fromEntries(checks.map((c) => [c.check, c]));
    expect(by['compose'].status).toBe('fail');
    expect(by['compose'].detail).toContain('conveyor-no-such-compose');
    expect(by['disk']).toMatchObject({ status: 'fail' });
    expect(by['disk'].detail).toMatch(/KiB free on \/$/);
    expect(by['registry']).toMatchObject({ status: 'fail' });
    expect(by['ports']).toMatchObject({ status: 'skip' });
  });
});

/** The kernel's ephemeral port range on this machine (where listen(0) picks a port). */
const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
  .trim()
  .split(/\s+/)
  .map(Number);
const ephemeral = (port: number) => port >= low && port <= high;

/** The ports check alone, run by sh for `ports` with no engine answering. */
function portsAlone(ports: number[]) {
  const s = doctorScript({ ...input, ports, publicPorts: [], registry: 'http://127.0.0.1:1' });
  const r = spawnSync('sh', ['-s'], { input: s, encoding: 'utf8', timeout: 30_000 });
  return parseDoctorOutput(r.stdout).find((c) => c.check === 'ports');
}

describe("the ports check and the kernel's ephemeral range (run by sh)", () => {
  it('warns of a free port in the range, naming it and the range; the report says what to do', () => {
    const c = portsAlone([low - 1, low + 1]);
    expect(c).toMatchObject({
      status: 'warn',
      detail: `${low + 1} (the ephemeral range is ${low}-${high})`,
    });
    const report = doctorReport([c as DoctorCheck], input, 'deploy');
    expect(report[0]).toMatch(
      /^WARN public ports: port\(s\) \d+ .*net\.ipv4\.ip_local_reserved_ports/,
    );
    expect(doctorPassed([c as DoctorCheck])).toBe(true);
  });

  it('passes free ports below the range', () => {
    expect(portsAlone([low - 20001, low - 1])).toMatchObject({ status: 'ok' });
  });
});

describe('the ports check against an engine busy with another release (run by sh)', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => server.close());

  /** The doctor with a fake docker first on PATH whose `ps` of the blue colour's project fails
   * `failures` times, answers with no container `empty` times (c1 is still starting), then lists
   * its container c1 (which publishes the port) in the given state. */
  function portsCheck(failures: number, empty = 0, state = 'running') {
    const bin = mkdtempSync(join(tmpdir(), 'conveyor-doctor-engine-'));
    const count = join(bin, 'ps-calls');
    writeFileSync(
      join(bin, 'docker'),
      `#!/bin/sh
case "$1" in
  version) echo 1.0 ;;
  ps) case "$*" in *=market-staging-blue) ;; *) exit 0 ;; esac
      n=$(($(cat ${count} 2>/dev/null || echo 0) + 1)); echo $n > ${count}
      [ $n -le ${failures} ] && { echo 'database is locked' >&2; exit 125; }
      [ $n -le ${failures + empty} ] && exit 0
      echo c1 ;;
  inspect) echo '${state} :${port}-> ' ;;
esac
`,
    );
    chmodSync(join(bin, 'docker'), 0o755);
    const s = doctorScript({
      ...input,
      ports: [port],
      publicPorts: [],
      registry: 'http://127.0.0.1:1',
    });
    // Asynchronous: this process's listening socket stays open while sh looks at /proc/net/tcp.
    return new Promise<{ status: string; detail: string }>((resolve) => {
      const child = spawn('sh', ['-s'], {
        env: { ...process.env, PATH: `${bin}:${process.env['PATH']}` },
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.on('close', () => resolve(parseDoctorOutput(out).find((c) => c.check === 'ports')!));
      child.stdin.end(s);
    });
  }

  // listen(0) picks the port from the ephemeral range: there the app's own port passes with a warning.
  const own = () => ({ status: ephemeral(port) ? 'warn' : 'ok' });

  it("a ps that fails once is asked again: the app's own port is its own", async () => {
    expect(await portsCheck(1)).toMatchObject(own());
  }, 30_000);

  it("a container of the app that starts while the doctor looks (a release beside it) is the app's own", async () => {
    expect(await portsCheck(0, 2)).toMatchObject(own());
  }, 30_000);

  it("a container of the app that is stopping still holds its port: the app's own", async () => {
    expect(await portsCheck(0, 0, 'stopping')).toMatchObject(own());
  }, 30_000);

  it("a port the app's exited container once published, now another process's, is a stranger's", async () => {
    expect(await portsCheck(0, 0, 'exited')).toMatchObject({
      status: 'fail',
      detail: String(port),
    });
  }, 30_000);

  it('an engine that never lists the containers is named, not taken for a stranger on the port', async () => {
    const c = await portsCheck(1000);
    expect(c.status).toBe('fail');
    expect(c.detail).toBe(
      `${port} (the engine did not list the containers of market-staging-blue, so these may be the app's own; run the doctor again)`,
    );
  }, 60_000);
});

describe('parsing and report', () => {
  const ok = DOCTOR_CHECKS.map((c) => line(c, 'ok', `${c} fine`));

  it('ignores other output and keeps check order', () => {
    const checks = parseDoctorOutput(['Welcome!', ...[...ok].reverse(), 'bye', ''].join('\r\n'));
    expect(checks.map((c) => c.check)).toEqual([...DOCTOR_CHECKS]);
    expect(doctorPassed(checks)).toBe(true);
  });

  it('a check that printed nothing fails', () => {
    const checks = parseDoctorOutput(ok.slice(0, 3).join('\n'));
    expect(checks[3]).toMatchObject({ check: 'disk', status: 'fail' });
    expect(doctorPassed(checks)).toBe(false);
  });

  it('prints one line per check: ok, skip or FIX naming what to do', () => {
    const text = [
      ...ok.filter((l) => !/\t(compose|ports|registry|clock|engine-access)\t/.test(l)),
      line('engine-access', 'fail', 'docker: permission denied'),
      line('compose', 'fail', 'docker: compose is not a docker command'),
      line('ports', 'fail', '8080'),
      line('registry', 'fail', 'https://registry.example.com:5000/v2/: 000'),
      line('clock', 'skip', 'no systemd'),
    ].join('\n');
    const report = doctorReport(parseDoctorOutput(text), input, 'deploy');
    expect(report).toHaveLength(DOCTOR_CHECKS.length);
    expect(report[0]).toMatch(/^ok {3}container engine: engine fine$/);
    expect(report.find((l) => l.includes('engine access'))).toMatch(
      /^FIX {2}engine access: deploy cannot use the engine without sudo.*docker group/,
    );
    expect(report.find((l) => l.includes('compose:'))).toContain(
      '"docker compose" does not answer',
    );
    expect(report.find((l) => l.includes('public ports'))).toContain('port(s) 8080 are in use');
    expect(report.find((l) => l.includes('registry:'))).toContain(
      'registry registry.example.com:5000 is not reachable',
    );
    expect(report.find((l) => l.startsWith('skip'))).toBe('skip clock: no systemd');
  });
});

describe('abandoned releases', () => {
  // A stand-in `docker` on the PATH that answers `ps` with the working folders of two projects'
  // containers, one of which exists: the scan itself runs for real in sh.
  const bin = mkdtempSync(join(tmpdir(), 'doctor-spec-'));
  const kept = mkdtempSync(join(tmpdir(), 'doctor-kept-'));
  writeFileSync(
    join(bin, 'docker'),
    `#!/bin/sh
case "$1" in
  version) echo 28 ;;
  ps) case "$*" in
      *market-staging-blue*) echo /gone/market/blue; echo /gone/market/blue ;;
      *market-staging-proxy*) echo ${kept} ;;
    esac ;;
esac
`,
  );
  chmodSync(join(bin, 'docker'), 0o755);
  const scan = (projects: string[]) =>
    spawnSync('sh', ['-s'], {
      input: abandonedScript(projects),
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env['PATH']}` },
    });

  it('names the projects whose folder is gone, once each, and not those whose folder exists', () => {
    const checks = parseDoctorOutput(scan(appProjects('market-staging', 'market')).stdout);
    expect(abandonedReleases(checks)).toEqual([
      { project: 'market-staging-blue', folder: '/gone/market/blue' },
    ]);
    const report = doctorReport(checks, input, 'deploy');
    const warn = report.find((l) => l.startsWith('WARN'));
    expect(warn).toContain('market-staging-blue (from /gone/market/blue): its folder is gone');
    expect(warn).toContain('nx run market:deploy --configuration=staging --replaceAbandoned');
    // A warning never refuses a deploy by itself.
    expect(checks.find((c) => c.check === 'abandoned')?.status).toBe('warn');
  });

  it('is ok when every folder exists', () => {
    const checks = parseDoctorOutput(scan(['market-staging-proxy']).stdout);
    expect(checks.find((c) => c.check === 'abandoned')).toMatchObject({ status: 'ok' });
    expect(abandonedReleases(checks)).toEqual([]);
  });

  it('the full doctor script carries the scan and passes shellcheck with it', () => {
    expect(doctorScript(input)).toContain('say abandoned warn');
    if (spawnSync('shellcheck', ['--version']).status !== 0) return;
    const r = spawnSync('shellcheck', ['-s', 'sh', '-'], {
      input: abandonedScript(['a']),
      encoding: 'utf8',
    });
    expect(r.stdout).toBe('');
  });
});

describe('the gate: checks, then the release over the same connection (run by sh)', () => {
  let registry: HttpServer;
  let url: string;
  let bin: string;
  beforeAll(async () => {
    registry = createHttpServer((_, res) => res.writeHead(200).end('{}'));
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(registry.address() as { port: number }).port}`;
    // An engine that answers and runs nothing of the app's.
    bin = mkdtempSync(join(tmpdir(), 'conveyor-gate-engine-'));
    writeFileSync(join(bin, 'docker'), '#!/bin/sh\n[ "$1" = version ] && echo 1.0\nexit 0\n');
    chmodSync(join(bin, 'docker'), 0o755);
  });
  afterAll(() => registry.close());

  /** The gated script with `cat` as the release: what reaches the release is its stdin. */
  function gate(over: Partial<typeof input>) {
    const s = gatedScript({
      ...input,
      ports: [],
      registry: url,
      minFreeGiB: 0,
      composeCommand: 'true',
      ...over,
    });
    return new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('sh', ['-c', s, 'gate', 'cat'], {
        env: { ...process.env, PATH: `${bin}:${process.env['PATH']}` },
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.on('close', (code) => resolve({ code, out }));
      child.stdin.end('the-bundle\n');
    });
  }

  it('runs the release when no check failed, with the whole of stdin', async () => {
    const r = await gate({});
    expect(parseDoctorOutput(r.out).filter((c) => c.status === 'fail')).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out.endsWith('the-bundle\n')).toBe(true);
  }, 30_000);

  it('stops before the release when a check failed, and says which', async () => {
    const r = await gate({ composeCommand: 'conveyor-no-such-compose' });
    expect(r.code).toBe(GATE_FAILED);
    expect(r.out).not.toContain('the-bundle');
    expect(parseDoctorOutput(r.out).find((c) => c.check === 'compose')?.status).toBe('fail');
  }, 30_000);

  it('passes shellcheck', () => {
    if (spawnSync('shellcheck', ['--version']).status !== 0) return;
    const r = spawnSync('shellcheck', ['-s', 'sh', '-'], {
      input: gatedScript(input),
      encoding: 'utf8',
    });
    expect(r.stdout).toBe('');
  });
});

describe("the edge's check (run by sh)", () => {
  let server: Server;
  let held: number;
  beforeAll(async () => {
    server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    held = (server.address() as { port: number }).port;
  });
  afterAll(() => server.close());

  /** The edge's line, with an engine that runs no edge (asynchronous: this process holds a port). */
  function edgeCheck(edgePorts: number[], domain: string) {
    const bin = mkdtempSync(join(tmpdir(), 'conveyor-doctor-edge-'));
    writeFileSync(
      join(bin, 'docker'),
      '#!/bin/sh\n[ "$1" = version ] && echo 1.0\n[ "$1" = inspect ] && exit 1\nexit 0\n',
    );
    chmodSync(join(bin, 'docker'), 0o755);
    const s = doctorScript({
      ...input,
      ports: [],
      registry: 'http://127.0.0.1:1',
      edgePorts,
      domain,
    });
    return new Promise<DoctorCheck>((resolve) => {
      const child = spawn('sh', ['-s'], {
        env: { ...process.env, PATH: `${bin}:${process.env['PATH']}` },
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.on('close', () => resolve(parseDoctorOutput(out).find((c) => c.check === 'edge')!));
      child.stdin.end(s);
    });
  }

  it('is skipped without a domain', async () => {
    expect((await edgeCheck([], '')).status).toBe('skip');
  }, 30_000);

  it('fails on a port the edge needs that something else holds, and says what to do', async () => {
    const c = await edgeCheck([held], 'localhost');
    expect(c).toEqual({ check: 'edge', status: 'fail', detail: String(held) });
    expect(doctorReport([c], input, 'deploy')[0]).toContain(
      `FIX  edge (80/443): port(s) ${held} are held by something other than the host's edge (conveyor-edge)`,
    );
  }, 30_000);

  it('warns when the domain does not resolve, passes when it resolves to this host', async () => {
    const unresolved = await edgeCheck([1], 'conveyor-no-such-name.invalid');
    expect(unresolved).toMatchObject({
      status: 'warn',
      detail: 'conveyor-no-such-name.invalid does not resolve',
    });
    expect(doctorPassed([unresolved])).toBe(true);
    const here = await edgeCheck([1], 'localhost');
    expect(here.status).toBe('ok');
    expect(here.detail).toMatch(/localhost resolves to (127\.0\.0\.1|::1)/);
  }, 30_000);
});
