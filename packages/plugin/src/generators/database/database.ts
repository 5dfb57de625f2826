import {
  formatFiles,
  GeneratorCallback,
  installPackagesTask,
  logger,
  runTasksInSerial,
  Tree,
} from '@nx/devkit';
import { contentHash, manifest, MANIFEST_FILE, ownedPaths } from '../../core/workspace/owned';
import { addDependencies } from '../app/app';
import { devDatabase } from '../app/lib/dev-database';
import { optionsOf, readManifest, recipeOf, WorkspaceApp } from '../app/lib/owned-files';
import type { NormalizedAppOptions } from '../app/lib/normalize-options';
import { findApp } from './lib/find-app';
import { planDatabaseFiles } from './lib/update-files';
import { addDatabaseTargets } from './lib/update-projects';
import type { DatabaseGeneratorSchema } from './schema';

/**
 * The manifest records the recipe with the database (so `nx migrate` regenerates the app as it
 * is now) and the hash of any owned file this run rewrote; the others keep the hash and version
 * they were written with. An app without a manifest (generated before them) gets none.
 */
function updateManifest(
  tree: Tree,
  app: WorkspaceApp,
  after: NormalizedAppOptions,
  written: Set<string>,
): void {
  const m = readManifest(tree, app.root);
  if (!m) return;
  const owned = { ...m.owned };
  for (const path of ownedPaths()) {
    const content = tree.read(`${app.root}/${path}`, 'utf-8');
    if (written.has(`${app.root}/${path}`) && content !== null) owned[path] = contentHash(content);
  }
  tree.write(`${app.root}/${MANIFEST_FILE}`, manifest(m.version, recipeOf(after), owned));
}

/**
 * `nx g @conveyor/plugin:database <app>`: what `app <app> --database=postgres` would have made of
 * the database, added to an app generated without one, from the app generator's own templates,
 * targets and dependency lists. Files and targets the user changed are left as they are, with a
 * line saying what to add.
 */
export async function databaseGenerator(
  tree: Tree,
  schema: DatabaseGeneratorSchema,
): Promise<GeneratorCallback> {
  const app = findApp(tree, schema);
  const before = optionsOf(app.recipe);
  const after: NormalizedAppOptions = { ...before, hasDatabase: true };
  // Everything is checked before the first write.
  const files = planDatabaseFiles(tree, before, after);
  for (const [path, content] of files.writes) tree.write(path, content);
  const targets = addDatabaseTargets(tree, before, after);
  addDependencies(tree, after.hasFrontend, after.hasDatabase);
  if (!schema.skipFormat) await formatFiles(tree);
  updateManifest(tree, app, after, new Set(files.writes.keys()));

  for (const line of [...files.byHand, ...targets]) logger.warn(line);
  const db = devDatabase(after);
  logger.info(
    `Postgres added to ${app.project}. nx serve ${after.projects.backend} starts the development ` +
      `database (${db.composeFile}, 127.0.0.1:${db.port}) and runs the migrations first; ` +
      `the deploy target now needs the secret DATABASE_URL (nx run ${app.project}:secrets --configuration=<profile> set DATABASE_URL).`,
  );
  return runTasksInSerial(...(schema.skipInstall ? [] : [() => installPackagesTask(tree)]));
}

export default databaseGenerator;
