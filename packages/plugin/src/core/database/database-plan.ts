/**
 * The database part of a release plan, decided before anything runs: which kind of database the
 * environment has, which image runs its service and its backups, and, for a deploy, what the
 * migrations are allowed to do. The host helper (src/host/conveyor_host/database.py) asks the
 * database which migrations are pending and refuses a release whose pending migrations the plan
 * names as breaking (or does not know) unless the deployer allowed it. Pure: no processes, no
 * files.
 */
import type { DatabaseKind, Profile } from '../config/profile';
import { breakingChanges, type BreakingChange } from './migration-safety';

/** The secret the app reads its database at (/run/secrets/DATABASE_URL). */
export const DATABASE_URL = 'DATABASE_URL';

/** A release's migration files as the workspace holds them: name without `.sql`, and SQL. */
export interface MigrationFile {
  name: string;
  sql: string;
}

export interface DatabasePlan {
  kind: DatabaseKind;
  /** The service's image (kind service), and the image pg_dump, pg_restore and the checks run in. */
  image: string;
  /** The service's database and role (kind service). */
  name: string;
  user: string;
  /** Verified backups the host keeps. */
  keep: number;
  /** Copies each verified backup off the host (`sh -c`, CONVEYOR_BACKUP_FILE). */
  backup_command?: string;
  /** A deploy: the migrations run by one container of the new image before it takes traffic. */
  migrate?: {
    /** Compose service of the release that runs them, and its commands. */
    service: string;
    command: string[];
    pending_command: string[];
    /**
     * Every migration of the release the workspace holds, each with the statements that would
     * break the live release (none: safe). A pending migration not named here was not checked.
     */
    checked: Record<string, string[]>;
    /** --allowBreakingMigration: run them anyway (the history records which ran). */
    allow_breaking: boolean;
  };
}

/** One line per breaking statement: what it does and the safe way (the helper lists them). */
export function breakingLines(found: BreakingChange[]): string[] {
  return found.map(
    (b) => `${b.migration}: \`${b.statement}\` ${b.change}. Safe way: ${b.safeWay}.`,
  );
}

/** Each migration with its breaking statements, read with Postgres's parser. */
export async function checkMigrations(files: MigrationFile[]): Promise<Record<string, string[]>> {
  const checked: Record<string, string[]> = {};
  for (const f of files) checked[f.name] = breakingLines(await breakingChanges(f.name, f.sql));
  return checked;
}

export interface DatabasePlanInput {
  profile: Profile;
  action: 'deploy' | 'rollback';
  /** The deploy's checked migrations (checkMigrations); undefined for a rollback. */
  checked?: Record<string, string[]>;
  allowBreaking?: boolean;
  /** A pull request's preview: always a service of its own, created empty and migrated. */
  preview?: boolean;
}

/**
 * What the host does with the app's database. A rollback never migrates (its release ran against
 * this schema or an older one: migrations only expand). A preview never touches the environment's
 * database: it gets a service of its own (its own project and volume under the preview's folder).
 */
export function databasePlan(input: DatabasePlanInput): DatabasePlan {
  const { profile } = input;
  const plan: DatabasePlan = {
    kind: input.preview ? 'service' : profile.database,
    image: profile.database_image,
    name: 'app',
    user: 'app',
    keep: profile.database_backups_keep,
  };
  if (profile.database_backup_command) plan.backup_command = profile.database_backup_command;
  if (input.action === 'deploy' && input.checked)
    plan.migrate = {
      service: 'backend',
      command: ['node', 'migrate.js'],
      pending_command: ['node', 'migrate.js', '--pending'],
      checked: input.checked,
      allow_breaking: input.allowBreaking ?? false,
    };
  return plan;
}

/**
 * The secrets this machine sends for the app: with a database service on the host, the host makes
 * DATABASE_URL itself (its password never leaves the host).
 */
export function sentSecrets(declared: readonly string[], kind: DatabaseKind | undefined): string[] {
  return kind === 'service' ? declared.filter((n) => n !== DATABASE_URL) : [...declared];
}
