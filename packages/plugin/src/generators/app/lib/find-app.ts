import { getProjects, Tree } from '@nx/devkit';
import { projectNames } from '../../../core/config/names';
import { WorkspaceApp, workspaceApps } from './owned-files';

/** What the workspace offers, for the end of a message. */
function appsHere(apps: WorkspaceApp[]): string {
  return apps.length
    ? `Conveyor apps here: ${apps.map((a) => a.project).join(', ')}.`
    : 'This workspace has no Conveyor app yet (nx g @conveyor/plugin:app <name> makes one).';
}

/**
 * The Conveyor app named `name` (workspaceApps: tagged conveyor:app, Conveyor's deploy executor,
 * infra/ansible beside it), or why `name` is none: one of an app's projects, another project, or
 * nothing at all. `generator` names the command in the message; each generator throws its own
 * error with it.
 */
export function conveyorApp(tree: Tree, name: string, generator: string): WorkspaceApp | string {
  const apps = workspaceApps(tree);
  const app = apps.find((a) => a.project === name);
  if (app) return app;
  const owner = apps.find((a) => Object.values(projectNames(a.project)).includes(name));
  if (owner)
    return (
      `"${name}" is a project of the Conveyor app "${owner.project}", not the app itself: ` +
      `run nx g @conveyor/plugin:${generator} ${owner.project}.`
    );
  if (getProjects(tree).has(name))
    return (
      `Project "${name}" is not a Conveyor app (one made by @conveyor/plugin:app: tagged ` +
      `conveyor:app, a deploy target of @conveyor/plugin:deploy, infra/ansible beside it). ` +
      appsHere(apps)
    );
  return `No project named "${name}" in this workspace. ${appsHere(apps)}`;
}
