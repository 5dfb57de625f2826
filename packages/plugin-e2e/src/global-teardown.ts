/** Removes the run's workspaces (each holds a node_modules); CONVEYOR_E2E_KEEP=1 keeps them for a look. */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { runPointer } from './utils';

export default async function globalTeardown(): Promise<void> {
  const pointer = runPointer(process.pid);
  if (!existsSync(pointer)) return;
  const dir = readFileSync(pointer, 'utf8').trim();
  rmSync(pointer, { force: true });
  if (process.env['CONVEYOR_E2E_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
  else console.log(`e2e workspaces kept in ${dir}`);
}
