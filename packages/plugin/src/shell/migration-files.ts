/** The release's SQL migrations as the workspace holds them (node-pg-migrate's order: by name). */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { MigrationFile } from '../core/database/database-plan';

export function readMigrationFiles(workspaceRoot: string, dir: string): MigrationFile[] {
  const path = join(workspaceRoot, dir);
  if (!existsSync(path))
    throw new Error(
      `The deploy target's migrations folder ${relative(workspaceRoot, path) || dir} does not exist.`,
    );
  return readdirSync(path)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => ({ name: f.slice(0, -'.sql'.length), sql: readFileSync(join(path, f), 'utf8') }));
}
