import { formatFiles, readNxJson, Tree } from '@nx/devkit';
import { MONITORING_FILES, MONITORING_GENERATOR } from '../../core/monitoring/monitoring';
import { COLOR_TARGETS_DIR } from '../../core/monitoring/colors';
import { PLUGIN_NAME } from '../../core/config/names';
import { collisionMessage, portCollisions } from '../../core/workspace/workspace-ports';
import { ensureCiWorkflow } from '../ci/ci';
import { monitoringGenerator } from '../monitoring/monitoring';
import { deployedPorts } from './lib/ports';

/** Registered on every app's deploy target: `nx sync`, `nx sync:check`, and before each deploy. */
export const SYNC_GENERATOR = `${PLUGIN_NAME}:sync`;

/** What Nx expects of a sync generator (nx/src/utils/sync-generators, not exported by @nx/devkit). */
export interface SyncGeneratorResult {
  outOfSyncMessage?: string;
}

export class PortPlanError extends Error {
  override name = 'PortPlanError';
}

/** Refuses a workspace where two deploy units take the same port on the shared hosts. */
export function checkWorkspacePorts(tree: Tree): void {
  const collisions = portCollisions(deployedPorts(tree));
  if (collisions.length > 0) {
    throw new PortPlanError(collisions.map(collisionMessage).join('\n'));
  }
}

/** The monitoring folder when the monitoring generator ran in this workspace. */
function monitoringDirectory(tree: Tree): string | undefined {
  const remembered = readNxJson(tree)?.generators?.[MONITORING_GENERATOR] as
    | { directory?: string }
    | undefined;
  const directory = remembered?.directory ?? 'monitoring';
  return tree.exists(`${directory}/${MONITORING_FILES.prometheusConfig}`) ? directory : undefined;
}

/**
 * Scrape targets follow the apps and environments: a new app or environment gets its target lists
 * (the public port's and the colours'),
 * a removed one loses it, and the scrape config, rules and dashboard name every app. Existing
 * target lists are kept as they are (their hosts were resolved from the environment of whoever ran
 * the generator; CI has other variables).
 */
async function syncMonitoring(tree: Tree): Promise<void> {
  const directory = monitoringDirectory(tree);
  if (!directory) return;
  const before = new Map<string, string>();
  for (const folder of [MONITORING_FILES.targetsDir, COLOR_TARGETS_DIR]) {
    const dir = `${directory}/${folder}`;
    for (const child of tree.exists(dir) ? tree.children(dir) : []) {
      if (tree.isFile(`${dir}/${child}`))
        before.set(`${dir}/${child}`, tree.read(`${dir}/${child}`, 'utf-8') ?? '');
    }
  }
  await monitoringGenerator(tree, { skipFormat: true });
  for (const [path, content] of before) {
    if (tree.exists(path)) tree.write(path, content);
  }
}

export async function syncGenerator(tree: Tree): Promise<SyncGeneratorResult> {
  checkWorkspacePorts(tree);
  ensureCiWorkflow(tree);
  await syncMonitoring(tree);
  await formatFiles(tree);
  return {
    outOfSyncMessage:
      "Files Conveyor derives from the workspace's apps and environments are stale (CI workflow, " +
      'monitoring targets). Run `nx sync` and commit the result.',
  };
}

export default syncGenerator;
