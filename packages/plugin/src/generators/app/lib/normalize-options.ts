import { getProjects, Tree } from '@nx/devkit';
import { appRoots, projectNames, validateAppName } from '../../../core/config/names';
import { checkPortPlan, PortError, validatePort } from '../../../core/config/ports';
import {
  collisionMessage,
  freePorts,
  portCollisions,
} from '../../../core/workspace/workspace-ports';
import { deployedPorts } from '../../sync/lib/ports';
import type { AppGeneratorSchema } from '../schema';

export interface NormalizedAppOptions {
  name: string;
  hasFrontend: boolean;
  hasDatabase: boolean;
  directory: string;
  backendPort: number;
  frontendPort: number;
  projects: ReturnType<typeof projectNames>;
  roots: ReturnType<typeof appRoots>;
  skipFormat: boolean;
  skipInstall: boolean;
}

export class AppOptionsError extends Error {
  override name = 'AppOptionsError';
}

const FRONTENDS = ['react-vite', 'none'];
const DATABASES = ['none', 'postgres'];

function port(value: unknown, option: string, fallback: number): number {
  try {
    return validatePort(value ?? fallback, `--${option}`);
  } catch (error) {
    throw error instanceof PortError ? new AppOptionsError(error.message) : error;
  }
}

/** Validates everything before a single file is written. */
export function normalizeOptions(tree: Tree, options: AppGeneratorSchema): NormalizedAppOptions {
  const name = String(options.name ?? '').trim();
  const nameError = validateAppName(name);
  if (nameError) throw new AppOptionsError(nameError);

  const frontend = options.frontend ?? 'react-vite';
  if (!FRONTENDS.includes(frontend)) {
    throw new AppOptionsError(
      `--frontend must be one of ${FRONTENDS.join(', ')}, got "${frontend}".`,
    );
  }

  const database = options.database ?? 'none';
  if (!DATABASES.includes(database)) {
    throw new AppOptionsError(
      `--database must be one of ${DATABASES.join(', ')}, got "${database}".`,
    );
  }

  const directory = (options.directory ?? 'apps').replace(/\\/g, '/').replace(/^\.\/|\/+$/g, '');
  if (
    directory === '' ||
    directory.startsWith('/') ||
    directory.split('/').some((p) => p === '..' || p === '.' || p === '')
  ) {
    throw new AppOptionsError(
      `--directory must be a relative folder inside the workspace, got "${options.directory}".`,
    );
  }

  // Ports not given: the first pair no other app of the workspace uses (they share the hosts).
  const others = deployedPorts(tree);
  const free = freePorts(others, {
    backendPort:
      options.backendPort === undefined ? undefined : port(options.backendPort, 'backendPort', 0),
    frontendPort:
      options.frontendPort === undefined
        ? undefined
        : port(options.frontendPort, 'frontendPort', 0),
    hasFrontend: frontend !== 'none',
  });
  const backendPort = free.backendPort;
  const frontendPort = free.frontendPort;
  const portProblem = checkPortPlan(backendPort, frontend === 'none' ? undefined : frontendPort);
  if (portProblem) {
    throw new AppOptionsError(
      `--backendPort=${backendPort} --frontendPort=${frontendPort}: ${portProblem}`,
    );
  }

  const collision = portCollisions([
    ...others,
    { app: name, backendPort, frontendPort: frontend === 'none' ? undefined : frontendPort },
  ]).find((c) => c.a.app === name || c.b.app === name);
  if (collision) throw new AppOptionsError(collisionMessage(collision));

  const projects = projectNames(name);
  const roots = appRoots(directory, name);
  const existing = getProjects(tree);
  for (const project of Object.values(projects)) {
    if (existing.has(project)) {
      throw new AppOptionsError(
        `A project named "${project}" already exists; choose another app name.`,
      );
    }
  }
  if (tree.exists(roots.root)) {
    throw new AppOptionsError(
      `${roots.root} already exists; choose another app name or --directory.`,
    );
  }

  return {
    name,
    hasFrontend: frontend !== 'none',
    hasDatabase: database === 'postgres',
    directory,
    backendPort,
    frontendPort,
    projects,
    roots,
    skipFormat: options.skipFormat ?? false,
    skipInstall: options.skipInstall ?? false,
  };
}
