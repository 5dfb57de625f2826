import { formatFiles, readNxJson, Tree, updateNxJson } from '@nx/devkit';
import { DEFAULT_PROFILES, PROFILES_DIR } from '../../core/config/names';
import { withEnvIgnored } from './lib/gitignore';
import { envExample, profileYaml } from './lib/profiles';
import { conveyorTargetDefaults, enforcedTargetDefaults } from './lib/target-defaults';
import type { InitGeneratorSchema } from './schema';

export function isInitialized(tree: Tree): boolean {
  return tree.exists(`${PROFILES_DIR}/staging.yml`);
}

/** Writes profiles that do not exist yet; never overwrites a user's profile. */
export function writeProfiles(tree: Tree): void {
  for (const name of DEFAULT_PROFILES) {
    const file = `${PROFILES_DIR}/${name}.yml`;
    if (!tree.exists(file)) tree.write(file, profileYaml(name));
  }
}

export function writeEnvExample(tree: Tree): void {
  tree.write('env.example', envExample());
}

/** Makes .gitignore ignore .env and .env.* (created, or appended to; the user's lines are kept). */
export function writeGitignore(tree: Tree): void {
  const next = withEnvIgnored(tree.read('.gitignore', 'utf-8'));
  if (next !== undefined) tree.write('.gitignore', next);
}

/**
 * Adds Conveyor's targetDefaults; settings the workspace already has win, except those that must
 * hold for the executors to be right (build-push is never cached: its effect is in the registry).
 */
export function updateNxConfiguration(tree: Tree): void {
  const nxJson = readNxJson(tree) ?? {};
  const defaults = conveyorTargetDefaults();
  const enforced = enforcedTargetDefaults();
  nxJson.targetDefaults ??= {};
  for (const [key, value] of Object.entries(defaults)) {
    nxJson.targetDefaults[key] = { ...value, ...nxJson.targetDefaults[key], ...enforced[key] };
  }
  updateNxJson(tree, nxJson);
}

export async function initGenerator(tree: Tree, options: InitGeneratorSchema = {}) {
  writeProfiles(tree);
  writeEnvExample(tree);
  writeGitignore(tree);
  updateNxConfiguration(tree);
  if (!options.skipFormat) await formatFiles(tree);
}

export default initGenerator;
