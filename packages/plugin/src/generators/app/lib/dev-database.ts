import { sshVars } from '../../../core/config/names';
import type { NormalizedAppOptions } from './normalize-options';

/**
 * The Postgres an app with --database=postgres runs against on a developer's machine: a container
 * from a compose file next to the app's deploy files, and a URL file the backend's serve and
 * migrate targets read through DATABASE_URL_FILE (the same secret() as on a host). One place for
 * its names, so the templates, the targets and the docs agree. Pure.
 */
export const DEV_DB = {
  /** The target on the backend project: `nx run <app>-backend:dev-db` (`:down` stops it). */
  target: 'dev-db',
  composeFileName: 'docker-compose.dev-db.yml',
  urlFileName: 'dev-db.url',
  /** Development only: written in the compose file and the URL file, used nowhere else. */
  user: 'dev',
  password: 'dev-only-not-a-secret',
  imageEnv: 'POSTGRES_IMAGE',
  image: 'postgres:17',
  portEnv: 'DEV_DB_PORT',
} as const;

/** The first app's development database port: not 5432, which a Postgres of the machine may hold. */
const FIRST_PORT = 5434;
/** The backend port of the first app (normalize-options: 8080/5173, then 8090/5183, ...). */
const FIRST_BACKEND_PORT = 8080;

/**
 * The port a development database is published on, derived from the app's backend port as the
 * app's ports are derived from each other: 8080 -> 5434, 8090 -> 5444, ... Apps of a workspace
 * have distinct backend ports, so their databases can run side by side; the default series ends
 * in 4, never on another app's default backend (…0) or frontend (…3) port. A derived port below
 * 1024 (a backend port under 3670) moves up by 10000, out of the privileged range.
 */
export function devDatabasePort(backendPort: number): number {
  const port = FIRST_PORT + (backendPort - FIRST_BACKEND_PORT);
  return port < 1024 ? port + 10000 : port;
}

export interface DevDatabase {
  port: number;
  database: string;
  /** From the workspace root. */
  composeFile: string;
  urlFile: string;
  /** What dev-db.url holds. 127.0.0.1, not localhost: the port is published on IPv4 loopback only. */
  url: string;
  /**
   * Compose on the file, under its own project name: the local profile's compose command
   * (LOCAL_COMPOSE_COMMAND, default `docker compose`, as config/profiles/local.yml has it).
   */
  compose: string;
}

export function devDatabase(
  o: Pick<NormalizedAppOptions, 'name' | 'roots' | 'backendPort'>,
): typeof DEV_DB & DevDatabase {
  const port = devDatabasePort(o.backendPort);
  const composeFile = `${o.roots.root}/${DEV_DB.composeFileName}`;
  return {
    ...DEV_DB,
    port,
    database: o.name,
    composeFile,
    urlFile: `${o.roots.root}/${DEV_DB.urlFileName}`,
    url: `postgres://${DEV_DB.user}:${DEV_DB.password}@127.0.0.1:${port}/${o.name}`,
    compose: `\${${sshVars('local').composeCommand}:-docker compose} -p ${o.name}-dev-db -f ${composeFile}`,
  };
}
