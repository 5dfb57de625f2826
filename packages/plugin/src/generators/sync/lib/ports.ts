import { getProjects, Tree } from '@nx/devkit';
import { deployUnits } from '../../../core/workspace/deploy-units';
import type { AppPorts } from '../../../core/workspace/workspace-ports';

/** The public ports of every project deployed by Conveyor (apps and the monitoring stack). */
export function deployedPorts(tree: Tree): AppPorts[] {
  return deployUnits(getProjects(tree))
    .filter((u) => u.backendPort !== undefined)
    .map((u) => ({
      app: u.name,
      backendPort: u.backendPort as number,
      frontendPort: u.frontendPort,
    }));
}
