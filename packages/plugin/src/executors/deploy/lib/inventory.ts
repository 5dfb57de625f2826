/** The hosts of an environment, as the app's inventory lists them (`ansible-inventory --list`). */
import { join, resolve } from 'node:path';
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

/**
 * The host profiles a read-only command (status, history, doctor) visits: every host of the
 * inventory when the target names its Ansible folder, else the profile's own host.
 */
export async function hostProfiles(
  root: string,
  ansibleDir: string | undefined,
  profile: Profile,
  env: NodeJS.ProcessEnv,
  secrets: readonly string[],
): Promise<Profile[]> {
  if (!ansibleDir) return [profile];
  const hosts = await inventoryHosts(resolve(root, ansibleDir), profile, env, secrets, {
    backendPort: 0,
  });
  return hosts.map((h) => h.profile);
}
