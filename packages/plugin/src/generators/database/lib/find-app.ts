import { getProjects, Tree } from '@nx/devkit';
import { appRoots, projectNames } from '../../../core/config/names';
import { deployUnit } from '../../../core/workspace/deploy-units';
import type { WorkspaceApp } from '../../app/lib/owned-files';
import { conveyorApp } from '../../app/lib/find-app';
import type { DatabaseGeneratorSchema } from '../schema';

export class DatabaseOptionsError extends Error {
  override name = 'DatabaseOptionsError';
}

const DATABASES = ['postgres'];

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

  const app = conveyorApp(tree, name, 'database');
  if (typeof app === 'string') throw new DatabaseOptionsError(app);

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
