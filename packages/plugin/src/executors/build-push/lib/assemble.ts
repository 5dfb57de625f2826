/**
 * Engine-less images: the base image's manifest and config from its registry, one reproducible
 * layer per COPY, then blobs (base layers mounted across repositories, not uploaded), config and
 * manifest pushed over the registry API.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { AssemblyPlan } from '../../../core/image/oci/dockerfile';
import {
  apiHost,
  applySteps,
  assembleManifest,
  AssembledImage,
  imageArch,
  ImageConfig,
  ImageRef,
  Index,
  isIndex,
  isLocalEngineImage,
  Manifest,
  parseImageRef,
  pickPlatform,
} from '../../../core/image/oci/image';
import { ContextFile, copyEntries, Layer, makeLayer } from '../../../core/image/oci/layer';
import { registryHost } from '../../../core/config/names';
import { RegistryClient } from '../../../shell/registry-client';

/** The base is not where assembly can read it: the engine builds this image instead. */
export class NoBaseInRegistry extends Error {
  override name = 'NoBaseInRegistry';
}

export interface BaseImage {
  ref: ImageRef;
  client: RegistryClient;
  /** Same registry as the target: its layers can be mounted. */
  sameRegistry: boolean;
  manifest: Manifest;
  mediaType: string;
  config: ImageConfig;
}

export async function resolveBase(
  base: string,
  target: RegistryClient,
  arch = imageArch(process.arch),
): Promise<BaseImage> {
  const ref = parseImageRef(base);
  if (isLocalEngineImage(ref))
    throw new NoBaseInRegistry(
      `the base ${base} is an image of the local engine, not in a registry (push it to a registry and pass that name to assemble without an engine)`,
    );
  const sameRegistry = apiHost(ref.registry) === registryHost(target.registry);
  const client = sameRegistry ? target : new RegistryClient(apiHost(ref.registry));
  let found;
  try {
    found = await client.getManifest(ref.repository, ref.reference);
  } catch (error) {
    throw new NoBaseInRegistry(`the base ${base} could not be read: ${(error as Error).message}`);
  }
  if (!found) throw new NoBaseInRegistry(`the base ${base} is not in its registry`);
  let body = JSON.parse(found.body) as Manifest & Index;
  let mediaType = body.mediaType ?? found.contentType;
  if (isIndex(mediaType, body)) {
    const pick = pickPlatform(body, arch);
    if (!pick) throw new NoBaseInRegistry(`the base ${base} has no linux/${arch} image`);
    const one = await client.getManifest(ref.repository, pick.digest);
    if (!one) throw new NoBaseInRegistry(`the base ${base}: ${pick.digest} is missing`);
    body = JSON.parse(one.body);
    mediaType = body.mediaType ?? one.contentType;
  }
  if (!body.config || !Array.isArray(body.layers))
    throw new NoBaseInRegistry(`the base ${base} has a manifest of another kind (${mediaType})`);
  const config = JSON.parse(
    (await client.getBlob(ref.repository, body.config.digest)).toString('utf8'),
  ) as ImageConfig;
  return { ref, client, sameRegistry, manifest: body, mediaType, config };
}

/** Build-context files with their execute bit, in path order. */
export function readContext(dir: string): ContextFile[] {
  const files: ContextFile[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else
        files.push({
          path: relative(dir, p).split('\\').join('/'),
          data: readFileSync(p),
          executable: (st.mode & 0o111) !== 0,
        });
    }
  };
  walk(dir);
  return files;
}

export async function assemble(
  plan: AssemblyPlan,
  base: BaseImage,
  files: ContextFile[],
  labels: Record<string, string>,
): Promise<AssembledImage> {
  const layers: Layer[] = [];
  for (const step of plan.steps) {
    if (step.kind !== 'copy') continue;
    layers.push(await makeLayer(copyEntries(step, files), step.text));
  }
  const config = applySteps(base.config, plan.steps, layers, labels);
  return assembleManifest(base.manifest, base.mediaType, config, layers);
}

export interface PushStats {
  /** Base layers linked from the base's repository (no bytes moved). */
  mounted: number;
  /** Base layers pulled from the base's registry and pushed (no mount possible). */
  copied: number;
  /** New layers and the config uploaded. */
  uploaded: number;
  /** Blobs the repository already held. */
  present: number;
}

/** Pushes blobs, then the manifest under each tag in order; returns the digest. */
export async function pushAssembled(
  client: RegistryClient,
  repository: string,
  image: AssembledImage,
  base: BaseImage,
  tags: string[],
): Promise<{ digest: string; stats: PushStats }> {
  const stats: PushStats = { mounted: 0, copied: 0, uploaded: 0, present: 0 };
  await Promise.all(
    base.manifest.layers.map(async (layer) => {
      if (await client.hasBlob(repository, layer.digest)) return void stats.present++;
      if (
        base.sameRegistry &&
        (await client.mountBlob(repository, layer.digest, base.ref.repository))
      )
        return void stats.mounted++;
      const data = await base.client.getBlob(base.ref.repository, layer.digest);
      await client.uploadBlob(repository, layer.digest, data);
      stats.copied++;
    }),
  );
  const own: { digest: string; data: Buffer }[] = [
    ...image.layers.map((l) => ({ digest: l.digest, data: l.blob })),
    { digest: image.configDigest, data: image.config },
  ];
  await Promise.all(
    own.map(async (blob) => {
      if (await client.hasBlob(repository, blob.digest)) return void stats.present++;
      await client.uploadBlob(repository, blob.digest, blob.data);
      stats.uploaded++;
    }),
  );
  let digest = image.manifestDigest;
  for (const tag of tags) {
    const got = await client.putManifest(repository, tag, {
      body: image.manifest.toString('utf8'),
      contentType: image.mediaType,
    });
    if (got && got !== image.manifestDigest)
      throw new Error(
        `The registry stored ${repository}:${tag} as ${got}, not the assembled ${image.manifestDigest}.`,
      );
    digest = got || digest;
  }
  return { digest, stats };
}
