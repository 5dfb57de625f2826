import type { Step } from './dockerfile';
import {
  applySteps,
  assembleManifest,
  FIXED_CREATED,
  ImageConfig,
  isLocalEngineImage,
  Manifest,
  MEDIA,
  parseImageRef,
  pickPlatform,
} from './image';
import type { Layer } from './layer';
import { sha256 } from './layer';

const base: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  created: '2024-01-01T00:00:00Z',
  config: {
    Env: ['PATH=/bin', 'NODE_ENV=dev'],
    Cmd: ['node'],
    WorkingDir: '/app',
    Labels: { a: '1' },
  },
  rootfs: { type: 'layers', diff_ids: ['sha256:base'] },
  history: [{ created_by: 'import' }],
};
const layer = (n: string): Layer => ({
  blob: Buffer.from(n),
  digest: `sha256:${n}-gz`,
  diffId: `sha256:${n}`,
  size: n.length,
  createdBy: `COPY ${n}`,
});

describe('image references', () => {
  it.each([
    [
      'localhost:5055/base/node:20',
      { registry: 'localhost:5055', repository: 'base/node', reference: '20' },
    ],
    [
      'node:20-alpine',
      { registry: 'docker.io', repository: 'library/node', reference: '20-alpine' },
    ],
    ['nginx', { registry: 'docker.io', repository: 'library/nginx', reference: 'latest' }],
    ['ghcr.io/a/b@sha256:00', { registry: 'ghcr.io', repository: 'a/b', reference: 'sha256:00' }],
    [
      'localhost/conveyor/node:20',
      { registry: 'localhost', repository: 'conveyor/node', reference: '20' },
    ],
  ])('%s', (ref, want) => expect(parseImageRef(ref)).toEqual(want));
  it('localhost/… without a port is an image of the local engine', () => {
    expect(isLocalEngineImage(parseImageRef('localhost/conveyor/node:20'))).toBe(true);
    expect(isLocalEngineImage(parseImageRef('localhost:5055/base/node:20'))).toBe(false);
  });
  it('picks the linux image of this architecture from an index', () => {
    const index = {
      schemaVersion: 2 as const,
      manifests: [
        {
          mediaType: MEDIA.ociManifest,
          digest: 'sha256:arm',
          size: 1,
          platform: { os: 'linux', architecture: 'arm64' },
        },
        {
          mediaType: MEDIA.ociManifest,
          digest: 'sha256:amd',
          size: 1,
          platform: { os: 'linux', architecture: 'amd64' },
        },
      ],
    };
    expect(pickPlatform(index, 'amd64')?.digest).toBe('sha256:amd');
    expect(pickPlatform(index, 's390x')).toBeUndefined();
  });
});

describe('the config built', () => {
  const steps: Step[] = [
    { kind: 'workdir', values: ['/srv'], text: 'WORKDIR /srv' },
    {
      kind: 'env',
      values: [],
      pairs: [
        ['NODE_ENV', 'production'],
        ['PORT', '8080'],
      ],
      text: 'ENV …',
    },
    { kind: 'expose', values: ['8080/tcp'], text: 'EXPOSE 8080' },
    { kind: 'user', values: ['65534:65534'], text: 'USER 65534:65534' },
    { kind: 'copy', sources: ['main.js'], dest: '/srv/', uid: 0, gid: 0, text: 'COPY main.js ./' },
    { kind: 'label', values: [], pairs: [['b', '2']], text: 'LABEL b=2' },
    { kind: 'entrypoint', values: ['tini', '--'], text: 'ENTRYPOINT ["tini","--"]' },
  ];
  it('applies the Dockerfile on the base config; labels given last win; fixed created time', () => {
    const c = applySteps(base, steps, [layer('main')], {
      a: 'over',
      'org.opencontainers.image.version': 'v1',
    });
    expect(c.created).toBe(FIXED_CREATED);
    expect(c.config).toEqual({
      Env: ['PATH=/bin', 'NODE_ENV=production', 'PORT=8080'],
      WorkingDir: '/srv',
      ExposedPorts: { '8080/tcp': {} },
      User: '65534:65534',
      Labels: { a: 'over', b: '2', 'org.opencontainers.image.version': 'v1' },
      // an ENTRYPOINT clears the base's CMD
      Cmd: null,
      Entrypoint: ['tini', '--'],
    });
    expect(c.rootfs.diff_ids).toEqual(['sha256:base', 'sha256:main']);
    expect(c.history?.slice(1).map((h) => [h.created_by, !!h.empty_layer])).toEqual([
      ['WORKDIR /srv', true],
      ['ENV …', true],
      ['EXPOSE 8080', true],
      ['USER 65534:65534', true],
      ['COPY main', false],
      ['LABEL b=2', true],
      ['ENTRYPOINT ["tini","--"]', true],
    ]);
    expect(base.config?.Env).toEqual(['PATH=/bin', 'NODE_ENV=dev']);
  });
  it('a CMD of this Dockerfile stays with an ENTRYPOINT', () => {
    const c = applySteps(
      base,
      [
        { kind: 'cmd', values: ['x'], text: 'CMD x' },
        { kind: 'entrypoint', values: ['y'], text: 'ENTRYPOINT y' },
      ],
      [],
      {},
    );
    expect(c.config?.Cmd).toEqual(['x']);
  });
});

describe('the manifest built', () => {
  const baseManifest: Manifest = {
    schemaVersion: 2,
    config: { mediaType: MEDIA.ociConfig, digest: 'sha256:cfg', size: 1 },
    layers: [{ mediaType: MEDIA.ociLayer, digest: 'sha256:l1', size: 10 }],
  };
  it('base layers then new ones, in the base format; digests are of the exact bytes', () => {
    const config = applySteps(base, [], [], {});
    const img = assembleManifest(baseManifest, MEDIA.ociManifest, config, [layer('a')]);
    const m = JSON.parse(img.manifest.toString());
    expect(m).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: img.configDigest, size: img.config.length },
      layers: [
        { mediaType: MEDIA.ociLayer, digest: 'sha256:l1', size: 10 },
        { mediaType: MEDIA.ociLayer, digest: 'sha256:a-gz', size: 1 },
      ],
    });
    expect(img.manifestDigest).toBe(sha256(img.manifest));
    expect(img.configDigest).toBe(sha256(img.config));
    const again = assembleManifest(baseManifest, MEDIA.ociManifest, applySteps(base, [], [], {}), [
      layer('a'),
    ]);
    expect(again.manifestDigest).toBe(img.manifestDigest);
  });
  it('a Docker v2 base gives a Docker v2 manifest', () => {
    const img = assembleManifest(baseManifest, MEDIA.dockerManifest, applySteps(base, [], [], {}), [
      layer('a'),
    ]);
    const m = JSON.parse(img.manifest.toString());
    expect(m.mediaType).toBe(MEDIA.dockerManifest);
    expect(m.config.mediaType).toBe(MEDIA.dockerConfig);
    expect(m.layers[1].mediaType).toBe(MEDIA.dockerLayer);
  });
});
