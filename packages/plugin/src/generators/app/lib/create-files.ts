import { generateFiles, offsetFromRoot, Tree } from '@nx/devkit';
import { join } from 'node:path';
import {
  APP_ENV,
  BUILD_INFO_FILE,
  CONTAINER_PORT,
  IMAGE_SUFFIX,
  sshVars,
  TOOL_ENV,
  SECRET_ENV,
} from '../../../core/config/names';
import {
  COMPOSE_OVERRIDE,
  composeOverrideFor,
  BEFORE_SWITCH_HOOK,
  HOOKS,
  HOOKS_DIR,
  ownedHeader,
} from '../../../core/workspace/owned';
import { devDatabase } from './dev-database';
import type { NormalizedAppOptions } from './normalize-options';

/** Variables every template of the app generator can use. */
export function templateVariables(o: NormalizedAppOptions) {
  return {
    tmpl: '',
    dot: '.',
    name: o.name,
    backendProject: o.projects.backend,
    frontendProject: o.projects.frontend,
    deployProject: o.projects.deploy,
    appRoot: o.roots.root,
    backendRoot: o.roots.backend,
    frontendRoot: o.roots.frontend,
    ansibleRoot: o.roots.ansible,
    backendPort: o.backendPort,
    frontendPort: o.frontendPort,
    containerPort: CONTAINER_PORT,
    hasFrontend: o.hasFrontend,
    hasDatabase: o.hasDatabase,
    buildInfoFile: BUILD_INFO_FILE,
    imageSuffix: IMAGE_SUFFIX,
    env: APP_ENV,
    secrets: SECRET_ENV,
    tool: TOOL_ENV,
    staging: sshVars('staging'),
    production: sshVars('production'),
    local: sshVars('local'),
    ownedHeader,
    composeOverride: COMPOSE_OVERRIDE,
    composeOverrideFor,
    hooks: HOOKS,
    hooksDir: HOOKS_DIR,
    beforeSwitchHook: BEFORE_SWITCH_HOOK,
    devDb: devDatabase(o),
  };
}

/** A folder of templates and the folder of the workspace it is rendered into. */
export interface TemplateFolder {
  source: string;
  target: string;
}

const FILES = join(__dirname, '..', 'files');

/**
 * The template folders of an app with these options, in the order they are written: the app
 * generator renders them into the tree, the database generator renders them for two recipes to
 * see what adding a database changes. One list, so both write the same files.
 */
export function templateFolders(o: NormalizedAppOptions): TemplateFolder[] {
  const folder = (source: string, target: string) => ({ source: join(FILES, source), target });
  return [
    folder('backend', o.roots.backend),
    ...(o.hasFrontend ? [folder('frontend', o.roots.frontend), folder('e2e', o.roots.e2e)] : []),
    ...(o.hasDatabase
      ? [
          folder(join('database', 'backend'), o.roots.backend),
          ...(o.hasFrontend ? [folder(join('database', 'frontend'), o.roots.frontend)] : []),
          // The development database: its compose file and URL file, beside the deploy files.
          folder(join('database', 'app'), o.roots.root),
        ]
      : []),
    folder('deploy', o.roots.root),
  ];
}

/** The variables of one folder's templates (offsetFromRoot depends on where it goes). */
export function folderVariables(o: NormalizedAppOptions, target: string) {
  return { ...templateVariables(o), offsetFromRoot: offsetFromRoot(target) };
}

export function createFiles(tree: Tree, o: NormalizedAppOptions): void {
  for (const { source, target } of templateFolders(o)) {
    generateFiles(tree, source, target, folderVariables(o, target));
  }
}
