/** The hosts of an environment, as the app's inventory lists them (`ansible-inventory --list`). */
import { join } from 'node:path';
import { inventoryFor } from '../../../core/ansible';
import { FleetHost, fleetHosts } from '../../../core/fleet';
import type { Profile } from '../../../core/profile';
import { run } from '../../../shell/run';

export async function inventoryHosts(
  ansibleDir: string,
  profile: Profile,
  env: NodeJS.ProcessEnv,
  secrets: readonly string[],
  ports: { backendPort: number; frontendPort?: number },
): Promise<FleetHost[]> {
  const r = await run(
    { argv: ['ansible-inventory', '-i', inventoryFor(profile.name), '--list'] },
    {
      cwd: ansibleDir,
      secrets,
      stream: false,
      env: { ...env, ANSIBLE_CONFIG: join(ansibleDir, 'ansible.cfg') },
    },
  );
  let inventory: Record<string, unknown>;
  try {
    inventory = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    throw new Error(
      `Reading ${join(ansibleDir, inventoryFor(profile.name))} failed (exit ${r.code}): ${r.output.trim().slice(-300)}`,
    );
  }
  return fleetHosts(inventory, 'app', profile, ports);
}
