/** Image references, configs and manifests of assembled images, as data. */
import type { Step } from './dockerfile';
import type { Layer } from './layer';
import { sha256 } from './layer';

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** The image's creation time: fixed, so the config (and the digest) depends on its inputs only. */
export const FIXED_CREATED = '1970-01-01T00:00:00Z';

export interface ImageRef {
  /** Registry host as written (docker.io for Docker Hub names). */
  registry: string;
  repository: string;
  /** Tag or digest. */
  reference: string;
}

/**
 * Splits an image reference as docker does: the first part is a registry when it has a "." or
 * ":" or is "localhost"; otherwise the image is on Docker Hub (library/ for one-part names).
 */
export function parseImageRef(ref: string): ImageRef {
  let rest = ref.trim();
  let reference = 'latest';
  const at = rest.indexOf('@');
  if (at >= 0) {
    reference = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  const hasRegistry = slash >= 0 && (/[.:]/.test(first) || first === 'localhost');
  const registry = hasRegistry ? first : 'docker.io';
  let repository = hasRegistry ? rest.slice(slash + 1) : rest;
  const colon = repository.lastIndexOf(':');
  if (colon > repository.lastIndexOf('/') && colon >= 0) {
    if (at < 0) reference = repository.slice(colon + 1);
    repository = repository.slice(0, colon);
  }
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  return { registry, repository, reference };
}

/** Where the registry API of this registry lives (Docker Hub's is not docker.io). */
export function apiHost(registry: string): string {
  return registry === 'docker.io' || registry === 'index.docker.io'
    ? 'registry-1.docker.io'
    : registry;
}

/** `localhost/name` without a port names an image only the local engine holds (Podman's convention). */
export function isLocalEngineImage(ref: ImageRef): boolean {
  return ref.registry === 'localhost';
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

/** The architecture name images use for this machine's (node's process.arch). */
export function imageArch(nodeArch: string): string {
  return (
    { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' }[
      nodeArch
    ] ?? nodeArch
  );
}

/** From an index (multi-platform image), the linux image for this architecture. */
export function pickPlatform(index: Index, arch: string): Descriptor | undefined {
  return index.manifests.find(
    (m) => m.platform?.os === 'linux' && m.platform.architecture === arch,
  );
}

export function isIndex(mediaType: string, body: { manifests?: unknown }): boolean {
  return mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList || !!body.manifests;
}

/** The image config: the base's, with the Dockerfile's settings, labels and new layers applied. */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  created?: string;
  config?: {
    Env?: string[];
    WorkingDir?: string;
    User?: string;
    ExposedPorts?: Record<string, object>;
    Labels?: Record<string, string>;
    Cmd?: string[] | null;
    Entrypoint?: string[] | null;
    [k: string]: unknown;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: { created?: string; created_by?: string; empty_layer?: boolean; comment?: string }[];
  [k: string]: unknown;
}

export function applySteps(
  base: ImageConfig,
  steps: Step[],
  layers: Layer[],
  labels: Record<string, string>,
): ImageConfig {
  const config = { ...(base.config ?? {}) };
  const history = [...(base.history ?? [])];
  const diffIds = [...base.rootfs.diff_ids];
  let layer = 0;
  let cmdSet = false;
  for (const step of steps) {
    if (step.kind === 'copy') {
      const l = layers[layer++];
      diffIds.push(l.diffId);
      history.push({ created: FIXED_CREATED, created_by: l.createdBy });
      continue;
    }
    switch (step.kind) {
      case 'env': {
        const env = [...(config.Env ?? [])];
        for (const [k, v] of step.pairs ?? []) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        config.Env = env;
        break;
      }
      case 'label':
        config.Labels = { ...(config.Labels ?? {}), ...Object.fromEntries(step.pairs ?? []) };
        break;
      case 'workdir':
        config.WorkingDir = step.values[0];
        break;
      case 'user':
        config.User = step.values[0];
        break;
      case 'expose':
        config.ExposedPorts = {
          ...(config.ExposedPorts ?? {}),
          ...Object.fromEntries(step.values.map((p) => [p, {}])),
        };
        break;
      case 'cmd':
        config.Cmd = step.values;
        cmdSet = true;
        break;
      case 'entrypoint':
        config.Entrypoint = step.values;
        // An ENTRYPOINT clears the base's CMD (a CMD after it in this Dockerfile still applies).
        if (!cmdSet) config.Cmd = null;
        break;
    }
    history.push({ created: FIXED_CREATED, created_by: step.text, empty_layer: true });
  }
  if (layer !== layers.length) throw new Error('applySteps: one layer per COPY');
  config.Labels = { ...(config.Labels ?? {}), ...labels };
  return {
    ...base,
    created: FIXED_CREATED,
    config,
    rootfs: { type: 'layers', diff_ids: diffIds },
    history,
  };
}

export interface AssembledImage {
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
  manifestDigest: string;
  mediaType: string;
  layers: Layer[];
}

/**
 * The manifest of base layers + new layers, in the base manifest's own format (OCI or Docker v2),
 * and its digest (sha256 of exactly the bytes pushed).
 */
export function assembleManifest(
  baseManifest: Manifest,
  baseMediaType: string,
  config: ImageConfig,
  layers: Layer[],
): AssembledImage {
  const docker = baseMediaType === MEDIA.dockerManifest;
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = sha256(configBytes);
  const mediaType = docker ? MEDIA.dockerManifest : MEDIA.ociManifest;
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType,
    config: {
      mediaType: docker ? MEDIA.dockerConfig : MEDIA.ociConfig,
      digest: configDigest,
      size: configBytes.length,
    },
    layers: [
      ...baseManifest.layers,
      ...layers.map((l) => ({
        mediaType: docker ? MEDIA.dockerLayer : MEDIA.ociLayer,
        digest: l.digest,
        size: l.size,
      })),
    ],
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    config: configBytes,
    configDigest,
    manifest: manifestBytes,
    manifestDigest: sha256(manifestBytes),
    mediaType,
    layers,
  };
}
