import { getProjects, readJson, Tree } from '@nx/devkit';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { appRoots, projectNames } from '../../../core/config/names';
import { deployUnits, isApp } from '../../../core/workspace/deploy-units';
import {
  AppRecipe,
  contentHash,
  manifest,
  MANIFEST_FILE,
  Manifest,
  ownedPaths,
} from '../../../core/workspace/owned';
import { folderVariables, templateFolders, templateVariables } from './create-files';
import type { NormalizedAppOptions } from './normalize-options';

// ejs ships no types; generateFiles renders with the same call.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { render } = require('ejs') as {
  render: (template: string, data: Record<string, unknown>, options: object) => string;
};

/** The installed plugin's version (its package.json sits four folders up, in src and in dist). */
export function pluginVersion(): string {
  return (
    JSON.parse(readFileSync(join(__dirname, '..', '..', '..', '..', 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
}

/** The deploy templates of this version. */
export const DEPLOY_TEMPLATES = join(__dirname, '..', 'files', 'deploy');

/**
 * Renders a folder of templates as generateFiles would (`__tmpl__` dropped, `__dot__` -> `.`,
 * EJS), without a tree: path relative to the folder -> content.
 */
export function renderTemplates(
  dir: string,
  vars: Record<string, unknown>,
  keep: (path: string) => boolean = () => true,
): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (sub: string) => {
    for (const entry of readdirSync(join(dir, sub)).sort()) {
      const rel = sub ? `${sub}/${entry}` : entry;
      if (statSync(join(dir, rel)).isDirectory()) {
        walk(rel);
        continue;
      }
      const path = rel.replace(/__tmpl__/g, '').replace(/__dot__/g, '.');
      if (!keep(path)) continue;
      out.set(path, render(readFileSync(join(dir, rel), 'utf8'), vars, {}));
    }
  };
  walk('');
  return out;
}

export function recipeOf(o: NormalizedAppOptions): AppRecipe {
  return {
    name: o.name,
    directory: o.directory,
    frontend: o.hasFrontend ? 'react-vite' : 'none',
    ...(o.hasDatabase ? { database: 'postgres' as const } : {}),
    backendPort: o.backendPort,
    frontendPort: o.frontendPort,
  };
}

export function optionsOf(recipe: AppRecipe): NormalizedAppOptions {
  return {
    name: recipe.name,
    hasFrontend: recipe.frontend !== 'none',
    hasDatabase: recipe.database === 'postgres',
    directory: recipe.directory,
    backendPort: recipe.backendPort,
    frontendPort: recipe.frontendPort,
    projects: projectNames(recipe.name),
    roots: appRoots(recipe.directory, recipe.name),
    skipFormat: true,
    skipInstall: true,
  };
}

/** The owned files this version generates for an app (relative to the app's root), unformatted. */
export function ownedFiles(o: NormalizedAppOptions): Map<string, string> {
  const owned = new Set(ownedPaths());
  return renderTemplates(DEPLOY_TEMPLATES, { ...templateVariables(o), offsetFromRoot: '' }, (p) =>
    owned.has(p),
  );
}

/**
 * Every file the app generator writes for these options (workspace path -> content, unformatted),
 * rendered from the same template folders without a tree.
 */
export function appFiles(o: NormalizedAppOptions): Map<string, string> {
  const out = new Map<string, string>();
  for (const { source, target } of templateFolders(o)) {
    for (const [path, content] of renderTemplates(source, folderVariables(o, target))) {
      out.set(`${target}/${path}`, content);
    }
  }
  return out;
}

/** Records the hash of each owned file as it is in the tree now (call after formatting). */
export function writeManifest(tree: Tree, o: NormalizedAppOptions, version = pluginVersion()) {
  const owned: Record<string, string> = {};
  for (const path of ownedPaths()) {
    const content = tree.read(`${o.roots.root}/${path}`, 'utf-8');
    if (content !== null) owned[path] = contentHash(content);
  }
  tree.write(`${o.roots.root}/${MANIFEST_FILE}`, manifest(version, recipeOf(o), owned));
}

export function readManifest(tree: Tree, root: string): Manifest | undefined {
  const path = `${root}/${MANIFEST_FILE}`;
  return tree.exists(path) ? readJson<Manifest>(tree, path) : undefined;
}

/** A Conveyor app of the workspace: its deploy unit and what it was generated with. */
export interface WorkspaceApp {
  project: string;
  root: string;
  recipe: AppRecipe;
  manifest?: Manifest;
}

/**
 * Every app the app generator made (tagged conveyor:app, Conveyor's deploy executor, an
 * infra/ansible folder), with its options: from its manifest, else from its project
 * configuration (apps generated before manifests existed).
 */
export function workspaceApps(tree: Tree): WorkspaceApp[] {
  const apps: WorkspaceApp[] = [];
  for (const unit of deployUnits(getProjects(tree)).filter(isApp)) {
    const project = unit.name;
    const root = unit.project.root;
    const options = unit.options;
    if (options['ansibleDir'] !== `${root}/infra/ansible`) continue;
    const m = readManifest(tree, root);
    const directory = root.split('/').slice(0, -1).join('/');
    const frontendPort = Number(options['frontendPort']);
    const recipe: AppRecipe = m?.options ?? {
      name: project,
      directory,
      frontend: Number.isInteger(frontendPort) ? 'react-vite' : 'none',
      backendPort: Number(options['backendPort']),
      frontendPort: Number.isInteger(frontendPort) ? frontendPort : 5173,
    };
    apps.push({ project, root, recipe, manifest: m });
  }
  return apps;
}
