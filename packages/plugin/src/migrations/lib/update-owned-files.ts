/**
 * The one step every migration of owned files takes: rewrite each app's owned files to what this
 * version generates for the app's options, leave the user's files alone, and never overwrite an
 * owned file the user edited (its new version goes beside it, with the diff on the terminal).
 */
import {
  formatFiles,
  logger,
  readProjectConfiguration,
  Tree,
  updateProjectConfiguration,
} from '@nx/devkit';
import {
  contentHash,
  decide,
  lineDiff,
  OwnedAction,
  ownedPaths,
  OWNED_FILES,
} from '../../core/workspace/owned';
import { deployProject } from '../../generators/app/lib/add-projects';
import type { NormalizedAppOptions } from '../../generators/app/lib/normalize-options';
import {
  optionsOf,
  ownedFiles,
  workspaceApps,
  writeManifest,
} from '../../generators/app/lib/owned-files';
import { ensureCiWorkflow } from '../../generators/ci/ci';
import { updateNxConfiguration, writeEnvExample, writeGitignore } from '../../generators/init/init';

/** What an earlier version wrote, for apps generated before the manifest recorded it. */
export interface Baseline {
  version: string;
  /** The owned files that version wrote for these options (relative to the app root), unformatted. */
  render(o: NormalizedAppOptions): Map<string, string>;
}

export interface AppUpdate {
  app: string;
  actions: OwnedAction[];
}

const SCRATCH = '__conveyor_baseline__';
const scratchPath = (path: string) => {
  const i = path.lastIndexOf('/');
  return `${path.slice(0, i + 1)}${SCRATCH}${path.slice(i + 1)}`;
};

/** Targets a newer version adds to the deploy unit; the user's own targets and options stay. */
function updateDeployProject(tree: Tree, o: NormalizedAppOptions): void {
  const config = readProjectConfiguration(tree, o.projects.deploy);
  const generated = deployProject(o).targets ?? {};
  config.targets ??= {};
  for (const [name, target] of Object.entries(generated)) {
    const existing = config.targets[name];
    if (!existing) config.targets[name] = target;
    else if (target.syncGenerators) {
      existing.syncGenerators = [
        ...new Set([...(existing.syncGenerators ?? []), ...target.syncGenerators]),
      ];
    }
  }
  updateProjectConfiguration(tree, o.projects.deploy, config);
}

export async function updateOwnedFiles(tree: Tree, baseline?: Baseline): Promise<AppUpdate[]> {
  const apps = workspaceApps(tree).map((app) => {
    const o = optionsOf(app.recipe);
    const at = (p: string) => `${app.root}/${p}`;
    const next = ownedFiles(o);
    const earlier = app.manifest ? undefined : baseline?.render(o);
    const paths = [
      ...new Set([
        ...next.keys(),
        ...Object.keys(app.manifest?.owned ?? {}),
        ...(earlier?.keys() ?? []),
      ]),
    ].sort();
    const current = new Map(paths.map((p) => [p, tree.read(at(p), 'utf-8') ?? undefined]));
    for (const [p, content] of next) tree.write(at(p), content);
    for (const [p, content] of earlier ?? []) tree.write(scratchPath(at(p)), content);
    return { app, o, at, next, earlier, paths, current };
  });

  // Formatted as the generator formats them, so "unchanged" and the hashes mean the same thing.
  await formatFiles(tree);

  const updates: AppUpdate[] = [];
  for (const { app, o, at, next, earlier, paths, current } of apps) {
    const written = new Map<string, string>(Object.entries(app.manifest?.owned ?? {}));
    for (const p of earlier?.keys() ?? []) {
      written.set(p, contentHash(tree.read(scratchPath(at(p)), 'utf-8') ?? ''));
      tree.delete(scratchPath(at(p)));
    }
    const formatted = new Map([...next.keys()].map((p) => [p, tree.read(at(p), 'utf-8') ?? '']));
    const actions: OwnedAction[] = [];
    for (const p of paths) {
      const before = current.get(p);
      const action = decide(p, written.get(p), before, formatted.get(p));
      actions.push(action);
      const restore = () =>
        before === undefined ? tree.exists(at(p)) && tree.delete(at(p)) : tree.write(at(p), before);
      if (action.action === 'delete') tree.delete(at(p));
      else if (action.action === 'keep-edited') {
        restore();
        logger.warn(
          `${at(p)}: you edited this file, and @conveyor/plugin no longer uses it. It is kept; ` +
            'delete it once nothing of yours needs it.',
        );
      } else if (action.action === 'beside') {
        const fresh = formatted.get(p) ?? '';
        restore();
        tree.write(at(action.besidePath), fresh);
        logger.warn(
          `${at(p)}: you edited this file, which @conveyor/plugin owns, so it is not overwritten. ` +
            `This version is in ${at(action.besidePath)}:\n${lineDiff(before ?? '', fresh, at(p))}\n` +
            `Move your change to ${OWNED_FILES[p] ?? 'a file of your own'}, then ` +
            `mv ${at(action.besidePath)} ${at(p)} (updates keep it current again). ` +
            `Keeping yours instead: the next update writes ${at(action.besidePath)} again.`,
        );
      }
    }
    writeManifest(tree, o);
    updateDeployProject(tree, o);
    const changed = actions
      .filter((a) => a.action !== 'unchanged')
      .map((a) => `${a.path} (${a.action})`);
    logger.info(
      `${app.project}: owned files ${changed.length > 0 ? changed.join(', ') : 'already current'}.`,
    );
    updates.push({ app: app.project, actions });
  }
  writeEnvExample(tree);
  writeGitignore(tree);
  updateNxConfiguration(tree);
  ensureCiWorkflow(tree);
  await formatFiles(tree);
  return updates;
}

export { ownedPaths };
