/** Content hash of an image's inputs: staged context files, Dockerfile, build args. */
import { createHash } from 'node:crypto';
import { BUILD_INFO_FILE } from '../config/names';

export interface HashedFile {
  /** Path inside the build context, with "/" separators. */
  path: string;
  data: Buffer | string;
}

/** Files whose content changes every build without changing the program (excluded from the hash). */
export const VOLATILE_FILES = [BUILD_INFO_FILE];

export function contentHash(input: {
  dockerfile: string;
  files: HashedFile[];
  buildArgs: Record<string, string>;
}): string {
  const h = createHash('sha256');
  h.update('conveyor-image-v1\n');
  h.update(`dockerfile ${input.dockerfile.length}\n`).update(input.dockerfile).update('\n');
  for (const [k, v] of Object.entries(input.buildArgs).sort(([a], [b]) => a.localeCompare(b))) {
    h.update(`arg ${k}=${v}\n`);
  }
  const files = input.files
    .filter((f) => !VOLATILE_FILES.includes(f.path.split('/').pop() ?? ''))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const f of files) {
    const data = typeof f.data === 'string' ? Buffer.from(f.data) : f.data;
    h.update(`file ${f.path} ${data.length}\n`).update(data).update('\n');
  }
  return h.digest('hex');
}
