/** What build-push will do for each image, decided before anything runs. */
import type { ImageSpec } from '../../../core/image/images';
import { imageRef, registryPath } from '../../../core/config/names';
import { contentTag } from '../../../core/release/tags';

export interface ImagePlan {
  spec: ImageSpec;
  /** Repository path inside the registry (namespace/app_component). */
  repository: string;
  /** The release reference: registry/namespace/app_component:tag */
  ref: string;
  /** The tag naming the image by its content (content-<hash>), added in the registry. */
  contentTag: string;
}

export function planImage(input: {
  spec: ImageSpec;
  app: string;
  registry: string;
  namespace: string;
  tag: string;
  hash: string;
}): ImagePlan {
  const { spec, app, registry, namespace, tag, hash } = input;
  return {
    spec,
    repository: registryPath(namespace, app, spec.component),
    ref: imageRef(registry, namespace, app, spec.component, tag),
    contentTag: contentTag(hash),
  };
}

export function validateImages(images: unknown): ImageSpec[] {
  if (!Array.isArray(images) || images.length === 0) {
    throw new Error(
      'build-push needs at least one entry in "images" (component, dockerfile, context).',
    );
  }
  const seen = new Set<string>();
  for (const [i, image] of images.entries()) {
    const spec = image as Partial<ImageSpec>;
    if (spec.component !== 'backend' && spec.component !== 'frontend') {
      throw new Error(
        `images[${i}].component must be "backend" or "frontend", got "${String(spec.component)}".`,
      );
    }
    if (seen.has(spec.component))
      throw new Error(`images[${i}]: component "${spec.component}" is listed twice.`);
    seen.add(spec.component);
    if (typeof spec.dockerfile !== 'string' || !spec.dockerfile)
      throw new Error(`images[${i}].dockerfile is missing.`);
    if (!Array.isArray(spec.context) || spec.context.length === 0)
      throw new Error(`images[${i}].context is empty.`);
  }
  return images as ImageSpec[];
}

export function validateBuildArgs(args: unknown): Record<string, string> {
  if (args === undefined || args === null) return {};
  if (typeof args !== 'object' || Array.isArray(args))
    throw new Error('--buildArgs must be a map, e.g. --buildArgs.NODE_IMAGE=node:20-alpine.');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(args as Record<string, unknown>)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
      throw new Error(`--buildArgs.${k}: "${k}" is not a valid build arg name.`);
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
      throw new Error(`--buildArgs.${k} must be a single value.`);
    out[k] = String(v);
  }
  return out;
}
