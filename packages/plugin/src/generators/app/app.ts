import {
  addDependenciesToPackageJson,
  formatFiles,
  GeneratorCallback,
  installPackagesTask,
  runTasksInSerial,
  Tree,
} from '@nx/devkit';
import { ensureCiWorkflow } from '../ci/ci';
import { initGenerator, isInitialized } from '../init/init';
import { monitoringGenerator } from '../monitoring/monitoring';
import { addProjects } from './lib/add-projects';
import { createFiles } from './lib/create-files';
import { normalizeOptions } from './lib/normalize-options';
import { writeManifest } from './lib/owned-files';
import * as versions from './lib/versions';
import type { AppGeneratorSchema } from './schema';

/** The browser tests' packages, @nx/playwright at the workspace's own Nx version (one Nx). */
function e2eDependencies(tree: Tree): Record<string, string> {
  const pkg = tree.exists('package.json')
    ? (JSON.parse(tree.read('package.json', 'utf-8') ?? '{}') as Record<
        string,
        Record<string, string> | undefined
      >)
    : {};
  const nx = pkg['devDependencies']?.['nx'] ?? pkg['dependencies']?.['nx'];
  return {
    ...versions.e2eDevDependencies,
    ...(nx && /^\d+\.\d+\.\d+$/.test(nx) ? { '@nx/playwright': nx } : {}),
  };
}

export function addDependencies(
  tree: Tree,
  hasFrontend: boolean,
  hasDatabase = false,
): GeneratorCallback {
  return addDependenciesToPackageJson(
    tree,
    {
      ...versions.backendDependencies,
      ...(hasFrontend ? versions.frontendDependencies : {}),
      ...(hasDatabase ? versions.databaseDependencies : {}),
    },
    {
      ...versions.devDependencies,
      ...(hasFrontend ? { ...versions.frontendDevDependencies, ...e2eDependencies(tree) } : {}),
      ...(hasDatabase ? versions.databaseDevDependencies : {}),
    },
  );
}

export async function appGenerator(
  tree: Tree,
  schema: AppGeneratorSchema,
): Promise<GeneratorCallback> {
  const options = normalizeOptions(tree, schema);
  if (!isInitialized(tree)) await initGenerator(tree, { skipFormat: true });
  addProjects(tree, options);
  createFiles(tree, options);
  if (schema.monitoring) await monitoringGenerator(tree, { skipFormat: true });
  addDependencies(tree, options.hasFrontend, options.hasDatabase);
  ensureCiWorkflow(tree);
  if (!options.skipFormat) await formatFiles(tree);
  // After formatting: the manifest records the owned files as they are written.
  writeManifest(tree, options);
  return runTasksInSerial(...(options.skipInstall ? [] : [() => installPackagesTask(tree)]));
}

export default appGenerator;
