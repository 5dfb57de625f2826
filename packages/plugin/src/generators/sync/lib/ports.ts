import { getProjects, Tree } from '@nx/devkit';
import { PLUGIN_NAME } from '../../../core/names';
import type { AppPorts } from '../../../core/workspace-ports';

const DEPLOY_EXECUTOR = `${PLUGIN_NAME}:deploy`;

/** The public ports of every project deployed by Conveyor (apps and the monitoring stack). */
export function deployedPorts(tree: Tree): AppPorts[] {
  const apps: AppPorts[] = [];
  for (const [name, project] of getProjects(tree)) {
    const deploy = project.targets?.['deploy'];
    if (deploy?.executor !== DEPLOY_EXECUTOR) continue;
    const options = (deploy.options ?? {}) as Record<string, unknown>;
    const backendPort = Number(options['backendPort']);
    if (!Number.isInteger(backendPort)) continue;
    const frontendPort = Number(options['frontendPort']);
    apps.push({
      app: name,
      backendPort,
      frontendPort: Number.isInteger(frontendPort) ? frontendPort : undefined,
    });
  }
  return apps;
}
