/**
 * `db-backup` and `db-restore` on the host that keeps the app's backups (the first host of the
 * deploy target): the helper takes the deploy lock, so no release migrates meanwhile.
 */
import type { ExecutorContext } from '@nx/devkit';
import { databasePlan } from '../core/database/database-plan';
import { loadProfile } from '../core/config/profile';
import { profileName } from '../core/release/deploy-model';
import { withDeployOptions } from './deploy-target';
import { deployer, sshSettings, whereText } from '../remote/connection';
import { conveyorExecutor, ExecutorRun } from '../remote/executor';
import { askHelper } from '../remote/helper';
import { loadDeployModel } from '../remote/inventory';
import type { HostEvent } from '../core/remote/host';

export interface DatabaseCommandOptions {
  profile?: string;
  ansibleDir?: string;
}

/** Runs `db-backup` or `db-restore <name>` on the first host; says what it did, throws otherwise. */
export function databaseCommand(
  command: 'db-backup' | 'db-restore',
  own: DatabaseCommandOptions,
  args: string[],
  context: ExecutorContext,
  report: (run: ExecutorRun, result: HostEvent) => void,
) {
  return conveyorExecutor(command, context, async (run) => {
    const { app, root, env, secrets, dir } = run;
    const options = withDeployOptions(own, context);
    if (!options.migrations)
      throw new Error(
        `${app} has no database (its deploy target names no migrations): nothing to ${command === 'db-backup' ? 'back up' : 'restore'}.`,
      );
    const profile = loadProfile(root, profileName(options), env);
    const model = await loadDeployModel(root, app, options, profile, env, secrets);
    const host = model.hosts[0];
    const database = databasePlan({ profile: host.profile, action: 'rollback' });
    const spec = {
      engine_command: model.engineCommand,
      compose_command: host.profile.compose_command,
      who: deployer(env),
      lock_timeout: model.lockTimeout,
      keep: database.keep,
      ...(database.backup_command ? { backup_command: database.backup_command } : {}),
    };
    const a = await askHelper(
      { profile: host.profile, app, ssh: sshSettings(profile, env, dir), secrets },
      command,
      args,
      JSON.stringify(spec),
    );
    const where = whereText(host.profile, app);
    if (a.result?.status === 'lock-held')
      throw new Error(
        `${where}: a release holds the deploy lock (${String(a.result['holder'])}): try again when it ends.`,
      );
    if (a.result?.status !== 'ok')
      throw new Error(
        `${command} on ${where} failed: ${String(a.result?.['error'] ?? a.output.trim().slice(-400))}`,
      );
    report(run, a.result);
    return true;
  });
}

/** Tables and their rows, as a backup's check counted them. */
export function tablesText(tables: unknown): string {
  const entries = Object.entries((tables ?? {}) as Record<string, number>);
  return entries.length ? entries.map(([t, n]) => `${t} ${n}`).join(', ') : 'no tables';
}
