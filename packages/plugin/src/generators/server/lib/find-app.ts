import type { Tree } from '@nx/devkit';
import type { WorkspaceApp } from '../../app/lib/owned-files';
import { conveyorApp } from '../../app/lib/find-app';

export class ServerOptionsError extends Error {
  override name = 'ServerOptionsError';
}

/**
 * The app the server is for (conveyorApp: the same lookup as the database generator's; a server
 * does not mind whether the app has a database).
 */
export function findApp(tree: Tree, app: unknown): WorkspaceApp {
  const name = String(app ?? '').trim();
  if (!name) {
    throw new ServerOptionsError(
      'An app name is required: nx g @conveyor/plugin:server <app> --provider=<aws|azure|gcp|hetzner>.',
    );
  }
  const found = conveyorApp(tree, name, 'server');
  if (typeof found === 'string') throw new ServerOptionsError(found);
  return found;
}
