import {
  buildArgsFor,
  buildCommand,
  declaredBuildArgs,
  loginCommand,
  logoutCommand,
  ociLabels,
  parseEngine,
  privateDockerConfig,
  privateLoginEnv,
  probeCommand,
  pushCommand,
} from './engine';

describe('engine commands', () => {
  it('logs in with the password on stdin, never in argv', () => {
    const c = loginCommand('podman', 'reg.example.com', 'ci', 's3cret-pass');
    expect(c.argv).toEqual([
      'podman',
      'login',
      '--username',
      'ci',
      '--password-stdin',
      'reg.example.com',
    ]);
    expect(c.argv.join(' ')).not.toContain('s3cret-pass');
    expect(c.stdin).toBe('s3cret-pass');
  });
  it('builds with tags, sorted build args and labels, without the layer cache', () => {
    const c = buildCommand('docker', {
      dockerfile: '/w/apps/shop/backend/Dockerfile',
      contextDir: '/tmp/ctx',
      tags: ['r/ns/shop_backend:abc', 'r/ns/shop_backend:content-1'],
      buildArgs: { WEB_IMAGE: 'w', NODE_IMAGE: 'n' },
      labels: { 'org.opencontainers.image.version': 'abc' },
    });
    expect(c.argv).toEqual([
      'docker',
      'build',
      '--file',
      '/w/apps/shop/backend/Dockerfile',
      '--no-cache',
      '--tag',
      'r/ns/shop_backend:abc',
      '--tag',
      'r/ns/shop_backend:content-1',
      '--build-arg',
      'NODE_IMAGE=n',
      '--build-arg',
      'WEB_IMAGE=w',
      '--label',
      'org.opencontainers.image.version=abc',
      '/tmp/ctx',
    ]);
  });
  it('builds with Podman in one commit (no per-instruction layers), never from its layer cache', () => {
    const c = buildCommand('podman', {
      dockerfile: 'Dockerfile',
      contextDir: '/tmp/ctx',
      tags: ['r/ns/shop_frontend:abc'],
      buildArgs: {},
      labels: {},
    });
    expect(c.argv.slice(0, 6)).toEqual([
      'podman',
      'build',
      '--file',
      'Dockerfile',
      '--no-cache',
      '--layers=false',
    ]);
  });
  it('pushes one reference', () => {
    expect(pushCommand('podman', 'r/x:1').argv).toEqual(['podman', 'push', 'r/x:1']);
  });
  it('labels with OCI keys', () => {
    expect(
      ociLabels({ gitSha: 'abc', tag: 'abc', source: 'git@x:y.git', title: 'shop_backend' }),
    ).toEqual({
      'org.opencontainers.image.version': 'abc',
      'org.opencontainers.image.title': 'shop_backend',
      'org.opencontainers.image.revision': 'abc',
      'org.opencontainers.image.source': 'git@x:y.git',
    });
  });
  it('parses the engine option and names the bad value', () => {
    expect(parseEngine('podman', '--engine')).toBe('podman');
    expect(parseEngine(undefined, '--engine')).toBeUndefined();
    expect(parseEngine('auto', '--engine')).toBeUndefined();
    expect(() => parseEngine('containerd', 'CONVEYOR_CONTAINER_ENGINE')).toThrow(
      'CONVEYOR_CONTAINER_ENGINE must be "docker" or "podman" (or unset to detect), got "containerd".',
    );
  });
});

describe('build args per Dockerfile', () => {
  const dockerfile =
    'ARG NODE_IMAGE=node:20-alpine\nFROM ${NODE_IMAGE}\n  arg EXTRA\nCOPY main.js .\n';
  it('finds declared args', () => {
    expect([...declaredBuildArgs(dockerfile)].sort()).toEqual(['EXTRA', 'NODE_IMAGE']);
  });
  it('drops args the Dockerfile does not declare', () => {
    expect(buildArgsFor(dockerfile, { NODE_IMAGE: 'n', WEB_IMAGE: 'w' })).toEqual({
      NODE_IMAGE: 'n',
    });
  });
});

describe('probeCommand', () => {
  it('asks the engine for its version (Docker: from the daemon), as JSON', () => {
    expect(probeCommand('docker').argv).toEqual(['docker', 'version', '--format', '{{json .}}']);
    expect(probeCommand('podman').argv[1]).toBe('version');
  });
});

describe('a private registry login', () => {
  it('points each engine at a private folder for its logins, and logs out by registry', () => {
    expect(privateLoginEnv('docker', '/tmp/x')).toEqual({ DOCKER_CONFIG: '/tmp/x' });
    expect(privateLoginEnv('podman', '/tmp/x')).toEqual({ REGISTRY_AUTH_FILE: '/tmp/x/auth.json' });
    expect(logoutCommand('docker', 'reg.example.com').argv).toEqual([
      'docker',
      'logout',
      'reg.example.com',
    ]);
  });
  it("keeps the user's docker settings and other logins, not its credential store nor this registry", () => {
    const user = {
      credsStore: 'osxkeychain',
      currentContext: 'desktop-linux',
      proxies: { default: { httpProxy: 'http://proxy:3128' } },
      auths: {
        'https://index.docker.io/v1/': { auth: 'aHViOng=' },
        'reg.example.com:5000': { auth: 'b2xkOng=' },
        'https://reg.example.com:5000/v2/': { auth: 'b2xkOng=' },
      },
      credHelpers: { 'reg.example.com:5000': 'ecr-login', 'gcr.io': 'gcloud' },
    };
    expect(privateDockerConfig(user, 'reg.example.com:5000')).toEqual({
      currentContext: 'desktop-linux',
      proxies: { default: { httpProxy: 'http://proxy:3128' } },
      auths: { 'https://index.docker.io/v1/': { auth: 'aHViOng=' } },
      credHelpers: { 'gcr.io': 'gcloud' },
    });
    expect(user.credsStore).toBe('osxkeychain');
    expect(privateDockerConfig(undefined, 'reg.example.com')).toEqual({});
    expect(privateDockerConfig('not json', 'reg.example.com')).toEqual({});
  });
});
