/** The hosts of an environment, as the app's inventory lists them (`ansible-inventory --list`). */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { inventoryFor } from '../core/remote/ansible';
import {
  DeployModel,
  deployModel,
  DeployModelInput,
  DeployModelOptions,
  releaseProfile,
} from '../core/release/deploy-model';
import { fleetHosts, InventoryList } from '../core/release/fleet';
import type { Profile } from '../core/config/profile';
import { run } from '../shell/run';

/** The inventory as messages name it: workspace-relative (apps/shop/infra/ansible/inventory/staging). */
function inventoryName(ansibleDir: string, profile: Profile): string {
  return join(ansibleDir, inventoryFor(profile.name));
}

/** The inventory of the profile's environment in `ansibleDir`, as Ansible reads it. */
export async function readInventory(
  ansibleDir: string,
  profile: Profile,
  env: NodeJS.ProcessEnv,
  secrets: readonly string[],
): Promise<InventoryList> {
  const r = await run(
    { argv: ['ansible-inventory', '-i', inventoryFor(profile.name), '--list'] },
    {
      cwd: ansibleDir,
      secrets,
      stream: false,
      env: { ...env, ANSIBLE_CONFIG: join(ansibleDir, 'ansible.cfg') },
    },
  );
  try {
    return JSON.parse(r.stdout) as InventoryList;
  } catch {
    throw new Error(
      `Reading ${join(ansibleDir, inventoryFor(profile.name))} failed (exit ${r.code}): ${r.output.trim().slice(-300)}`,
    );
  }
}

/**
 * The deploy model of a target: its options with the profile, this machine's environment and,
 * when the target names its Ansible folder, the inventory's hosts.
 */
export async function loadDeployModel(
  root: string,
  app: string,
  options: DeployModelOptions & { ansibleDir?: string },
  profile: Profile,
  env: NodeJS.ProcessEnv,
  secrets: readonly string[],
  preview?: DeployModelInput['preview'],
): Promise<DeployModel> {
  const inventory = options.ansibleDir
    ? await readInventory(resolve(root, options.ansibleDir), profile, env, secrets)
    : undefined;
  const inventoryFile = options.ansibleDir ? inventoryName(options.ansibleDir, profile) : undefined;
  return deployModel({
    app,
    options,
    profile,
    env,
    inventory,
    inventoryFile,
    // The target's domain (or a preview's) may turn the edge on where the profile has none.
    acmeCaRoot: acmeCaRoot(root, releaseProfile(profile, options, preview)),
    ...(preview ? { preview } : {}),
  });
}

/** The profile's acme_ca_root file, read (relative paths from the workspace). */
function acmeCaRoot(root: string, profile: Profile): string | undefined {
  if (!profile.acme_ca_root || profile.tls !== 'acme') return undefined;
  const file = resolve(root, profile.acme_ca_root);
  if (!existsSync(file))
    throw new Error(`${profile.file}: key "acme_ca_root" names ${file}, which does not exist.`);
  const pem = readFileSync(file, 'utf8');
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new Error(`${profile.file}: key "acme_ca_root": ${file} holds no PEM certificate.`);
  return pem;
}

/**
 * The host profiles a read-only command (status, history) visits: every host of the inventory
 * when the target names its Ansible folder, else the profile's own host.
 */
export async function hostProfiles(
  root: string,
  ansibleDir: string | undefined,
  profile: Profile,
  env: NodeJS.ProcessEnv,
  secrets: readonly string[],
): Promise<Profile[]> {
  if (!ansibleDir) return [profile];
  const inventory = await readInventory(resolve(root, ansibleDir), profile, env, secrets);
  return fleetHosts(
    inventory,
    'app',
    profile,
    { backendPort: 0 },
    inventoryName(ansibleDir, profile),
  ).map((h) => h.profile);
}
