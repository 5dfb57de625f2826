/** Removes the run's workspaces (each holds a node_modules); CONVEYOR_E2E_KEEP=1 keeps them for a look. */
import { rmSync } from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const dir = process.env['CONVEYOR_E2E_DIR'];
  if (dir && process.env['CONVEYOR_E2E_KEEP'] !== '1')
    rmSync(dir, { recursive: true, force: true });
}
