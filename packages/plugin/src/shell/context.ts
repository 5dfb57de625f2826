/** Stages an image's build context from workspace files into a temp folder. */
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import type { ContextEntry } from '../core/image/images';
import type { HashedFile } from '../core/image/hash';

export function stageContext(workspaceRoot: string, entries: ContextEntry[], hint: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-ctx-'));
  for (const e of entries) {
    const from = join(workspaceRoot, e.from);
    if (!existsSync(from)) {
      throw new Error(`${e.from} does not exist: ${hint}`);
    }
    const to = join(dir, e.to);
    mkdirSync(dirname(to), { recursive: true });
    cpSync(from, to, { recursive: true });
  }
  return dir;
}

export function readTree(dir: string): HashedFile[] {
  const files: HashedFile[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else files.push({ path: relative(dir, p).split('\\').join('/'), data: readFileSync(p) });
    }
  };
  walk(dir);
  return files;
}
