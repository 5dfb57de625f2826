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
    ownedHeader,
    composeOverride: COMPOSE_OVERRIDE,
    composeOverrideFor,
    hooks: HOOKS,
    hooksDir: HOOKS_DIR,
    beforeSwitchHook: BEFORE_SWITCH_HOOK,
  };
}

export function createFiles(tree: Tree, o: NormalizedAppOptions): void {
  const vars = templateVariables(o);
  generateFiles(tree, join(__dirname, '..', 'files', 'backend'), o.roots.backend, {
    ...vars,
    offsetFromRoot: offsetFromRoot(o.roots.backend),
  });
  if (o.hasFrontend) {
    generateFiles(tree, join(__dirname, '..', 'files', 'frontend'), o.roots.frontend, {
      ...vars,
      offsetFromRoot: offsetFromRoot(o.roots.frontend),
    });
  }
  if (o.hasFrontend) {
    generateFiles(tree, join(__dirname, '..', 'files', 'e2e'), o.roots.e2e, {
      ...vars,
      offsetFromRoot: offsetFromRoot(o.roots.e2e),
    });
  }
  if (o.hasDatabase) {
    generateFiles(tree, join(__dirname, '..', 'files', 'database', 'backend'), o.roots.backend, {
      ...vars,
      offsetFromRoot: offsetFromRoot(o.roots.backend),
    });
    if (o.hasFrontend)
      generateFiles(
        tree,
        join(__dirname, '..', 'files', 'database', 'frontend'),
        o.roots.frontend,
        {
          ...vars,
          offsetFromRoot: offsetFromRoot(o.roots.frontend),
        },
      );
  }
  generateFiles(tree, join(__dirname, '..', 'files', 'deploy'), o.roots.root, {
    ...vars,
    offsetFromRoot: offsetFromRoot(o.roots.root),
  });
}
