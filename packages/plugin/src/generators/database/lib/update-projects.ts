import {
  getProjects,
  ProjectConfiguration,
  readJson,
  readProjectConfiguration,
  TargetConfiguration,
  Tree,
  updateProjectConfiguration,
  writeJson,
} from '@nx/devkit';
import { isDeepStrictEqual } from 'node:util';
import {
  backendProject,
  deployProject,
  e2eProject,
  frontendProject,
} from '../../app/lib/add-projects';
import type { NormalizedAppOptions } from '../../app/lib/normalize-options';
import { mergeGenerated } from './merge-generated';

type Targets = Record<string, TargetConfiguration>;

/** The app's projects and the app generator's function for each. */
function generatedProjects(o: NormalizedAppOptions) {
  const projects: [string, (o: NormalizedAppOptions) => ProjectConfiguration][] = [
    [o.projects.backend, backendProject],
    [o.projects.deploy, deployProject],
  ];
  if (o.hasFrontend) {
    projects.push([o.projects.frontend, frontendProject], [o.projects.e2e, e2eProject]);
  }
  return projects;
}

/**
 * The targets in the generator's order (a target the database brings sits where `app
 * --database=postgres` puts it), each of the user's own right after the one it followed.
 */
function inOrderOf(targets: Targets, next: Targets): Targets {
  const keys = Object.keys(next).filter((k) => k in targets);
  const own = Object.keys(targets);
  own.forEach((key, i) => {
    if (keys.includes(key)) return;
    keys.splice(i === 0 ? 0 : keys.indexOf(own[i - 1]) + 1, 0, key);
  });
  return Object.fromEntries(keys.map((k) => [k, targets[k]]));
}

/**
 * The targets adding the database changes, in each project of the app: every target the app
 * generator makes differently for `after` than for `before`, merged into the project's own
 * (mergeGenerated: a declared secret of the user's stays). A target whose change clashes with an
 * edit of the user's is left as it is; returns one line per such target, with what it would be.
 */
export function addDatabaseTargets(
  tree: Tree,
  before: NormalizedAppOptions,
  after: NormalizedAppOptions,
): string[] {
  const byHand: string[] = [];
  const existing = getProjects(tree);
  for (const [name, generate] of generatedProjects(after)) {
    if (!existing.has(name)) continue;
    const base: Targets = generate(before).targets ?? {};
    const next: Targets = generate(after).targets ?? {};
    const project = readProjectConfiguration(tree, name);
    const file = `${project.root}/project.json`;
    // The file as it is (readProjectConfiguration reorders the keys of targets): the user's
    // project.json changes where the database changes it, nowhere else.
    const json = tree.exists(file) ? readJson<ProjectConfiguration>(tree, file) : project;
    const targets: Targets = { ...json.targets };
    let changed = false;
    for (const target of new Set([...Object.keys(next), ...Object.keys(base)])) {
      if (isDeepStrictEqual(base[target], next[target])) continue;
      const merged = mergeGenerated(targets[target], base[target], next[target]);
      if (merged.conflict) {
        byHand.push(
          `${name}:${target} was changed since it was generated, so it was left as it is; ` +
            `with the database it is ${JSON.stringify(next[target])}.`,
        );
        continue;
      }
      if (merged.value === undefined) delete targets[target];
      else targets[target] = merged.value as TargetConfiguration;
      changed = true;
    }
    if (!changed) continue;
    const ordered = inOrderOf(targets, next);
    if (tree.exists(file)) writeJson(tree, file, { ...json, targets: ordered });
    else updateProjectConfiguration(tree, name, { ...project, targets: ordered });
  }
  return byHand;
}
