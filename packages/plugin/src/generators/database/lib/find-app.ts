import { getProjects, Tree } from '@nx/devkit';
import { appRoots, projectNames } from '../../../core/config/names';
import { deployUnit } from '../../../core/workspace/deploy-units';
import { WorkspaceApp, workspaceApps } from '../../app/lib/owned-files';
import type { DatabaseGeneratorSchema } from '../schema';

export class DatabaseOptionsError extends Error {
  override name = 'DatabaseOptionsError';
}

const DATABASES = ['postgres'];

/** What the workspace offers, for the end of a message. */
function appsHere(apps: WorkspaceApp[]): string {
  return apps.length
    ? `Conveyor apps here: ${apps.map((a) => a.project).join(', ')}.`
    : 'This workspace has no Conveyor app yet (nx g @conveyor/plugin:app <name> makes one).';
}

/** Why the app has a database already, or undefined. */
function existingDatabase(tree: Tree, app: WorkspaceApp): string | undefined {
  if (app.recipe.database && app.recipe.database !== 'none') {
    return `it was generated with --database=${app.recipe.database}`;
  }
  const backend = appRoots(app.recipe.directory, app.recipe.name).backend;
  if (tree.exists(`${backend}/src/db.ts`)) return `${backend}/src/db.ts exists`;
  const secrets = deployUnit(app.project, getProjects(tree).get(app.project) ?? { root: '' })
    ?.options['secrets'];
  if (Array.isArray(secrets) && secrets.includes('DATABASE_URL')) {
    return `its deploy target declares the secret DATABASE_URL already`;
  }
  return undefined;
}

/**
 * The app the database goes to, with the options it was generated with; refuses, naming the
 * reason, a name that is no Conveyor app (or only one of its projects), an app whose backend
 * project is missing, and an app that has a database.
 */
export function findApp(tree: Tree, schema: DatabaseGeneratorSchema): WorkspaceApp {
  const name = String(schema.app ?? '').trim();
  if (!name) {
    throw new DatabaseOptionsError(
      'An app name is required: nx g @conveyor/plugin:database <app>.',
    );
  }
  const database = schema.database ?? 'postgres';
  if (!DATABASES.includes(database)) {
    throw new DatabaseOptionsError(
      `--database must be one of ${DATABASES.join(', ')}, got "${database}".`,
    );
  }

  const apps = workspaceApps(tree);
  const app = apps.find((a) => a.project === name);
  if (!app) {
    const owner = apps.find((a) => Object.values(projectNames(a.project)).includes(name));
    if (owner) {
      throw new DatabaseOptionsError(
        `"${name}" is a project of the Conveyor app "${owner.project}", not the app itself: ` +
          `run nx g @conveyor/plugin:database ${owner.project}.`,
      );
    }
    if (getProjects(tree).has(name)) {
      throw new DatabaseOptionsError(
        `Project "${name}" is not a Conveyor app (one made by @conveyor/plugin:app: tagged ` +
          `conveyor:app, a deploy target of @conveyor/plugin:deploy, infra/ansible beside it). ` +
          appsHere(apps),
      );
    }
    throw new DatabaseOptionsError(
      `No project named "${name}" in this workspace. ${appsHere(apps)}`,
    );
  }

  const backend = projectNames(app.project).backend;
  const root = appRoots(app.recipe.directory, app.recipe.name).backend;
  if (getProjects(tree).get(backend)?.root !== root) {
    throw new DatabaseOptionsError(
      `App "${name}" has no backend project "${backend}" at ${root}: it is not laid out as ` +
        `@conveyor/plugin:app lays out an app, so the database cannot be added to it.`,
    );
  }
  const reason = existingDatabase(tree, app);
  if (reason) {
    throw new DatabaseOptionsError(
      `App "${name}" already has a database (${reason}); nothing was changed.`,
    );
  }
  return app;
}
