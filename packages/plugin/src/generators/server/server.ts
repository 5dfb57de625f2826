import { formatFiles, generateFiles, logger, Tree } from '@nx/devkit';
import { join } from 'node:path';
import {
  CLOUD_INIT_TEMPLATE,
  moduleDir,
  nextCommands,
  PROVIDER_MODULES,
} from '../../core/server/server';
import { ServerOptionsError } from './lib/find-app';
import {
  normalizeOptions,
  NormalizedServerOptions,
  templateVariables,
} from './lib/normalize-options';
import type { ServerGeneratorSchema } from './schema';

export { ServerOptionsError };

const FILES = join(__dirname, 'files');

/** The first-boot preparation, shared by every provider's module of the app. */
function writeCloudInit(tree: Tree, o: NormalizedServerOptions): void {
  const folder = `${o.root}/${CLOUD_INIT_TEMPLATE.split('/').slice(0, -1).join('/')}`;
  generateFiles(tree, join(FILES, 'cloud-init'), folder, templateVariables(o));
}

/** One provider's module: the common files (versions, variables, outputs, README) and its main.tf. */
function writeModule(tree: Tree, o: NormalizedServerOptions): string {
  const folder = `${o.root}/${moduleDir(o.provider)}`;
  const variables = templateVariables(o);
  generateFiles(tree, join(FILES, 'module'), folder, variables);
  generateFiles(tree, join(FILES, 'main', o.provider), folder, variables);
  return folder;
}

/**
 * `nx g @conveyor/plugin:server <app> --provider=<aws|azure|gcp|hetzner> [--profile=staging]`:
 * the app's infra/cloud-init/user-data.yaml.tftpl (the first preparation bootstrap.yml makes, at
 * the first boot) and a Terraform module in infra/terraform/<provider> that makes a server with
 * it, whose outputs are the profile's variables. Run again, it rewrites both with this version's.
 */
export async function serverGenerator(tree: Tree, schema: ServerGeneratorSchema): Promise<void> {
  const o = normalizeOptions(tree, schema);
  writeCloudInit(tree, o);
  const folder = writeModule(tree, o);
  if (!o.skipFormat) await formatFiles(tree);
  const [apply, bootstrap, deploy] = nextCommands(o.app, o.profile);
  logger.info(
    `A ${PROVIDER_MODULES[o.provider].title} server for ${o.app} (profile ${o.profile}) in ${folder}. ` +
      `Next (see its README.md): cd ${folder} && ${apply}; set the profile's variables from ` +
      `terraform output; ${bootstrap}; ${deploy}.`,
  );
}

export default serverGenerator;
