import { getProjects, Tree } from '@nx/devkit';
import { projectNames } from '../../../core/config/names';
import { WorkspaceApp, workspaceApps } from '../../app/lib/owned-files';

export class ServerOptionsError extends Error {
  override name = 'ServerOptionsError';
}

/** What the workspace offers, for the end of a message. */
function appsHere(apps: WorkspaceApp[]): string {
  return apps.length
    ? `Conveyor apps here: ${apps.map((a) => a.project).join(', ')}.`
    : 'This workspace has no Conveyor app yet (nx g @conveyor/plugin:app <name> makes one).';
}

/**
 * The app the server is for, found as the database generator finds one (workspaceApps: tagged
 * conveyor:app, Conveyor's deploy executor, infra/ansible beside it). Its findApp is not called:
 * it also refuses an app that has a database, which a server does not mind.
 */
export function findApp(tree: Tree, app: unknown): WorkspaceApp {
  const name = String(app ?? '').trim();
  if (!name) {
    throw new ServerOptionsError(
      'An app name is required: nx g @conveyor/plugin:server <app> --provider=<aws|azure|gcp|hetzner>.',
    );
  }
  const apps = workspaceApps(tree);
  const found = apps.find((a) => a.project === name);
  if (found) return found;
  const owner = apps.find((a) => Object.values(projectNames(a.project)).includes(name));
  if (owner) {
    throw new ServerOptionsError(
      `"${name}" is a project of the Conveyor app "${owner.project}", not the app itself: ` +
        `run nx g @conveyor/plugin:server ${owner.project}.`,
    );
  }
  if (getProjects(tree).has(name)) {
    throw new ServerOptionsError(
      `Project "${name}" is not a Conveyor app (one made by @conveyor/plugin:app: tagged ` +
        `conveyor:app, a deploy target of @conveyor/plugin:deploy, infra/ansible beside it), ` +
        `so there is no bootstrap or deploy for a server to serve. ${appsHere(apps)}`,
    );
  }
  throw new ServerOptionsError(`No project named "${name}" in this workspace. ${appsHere(apps)}`);
}
