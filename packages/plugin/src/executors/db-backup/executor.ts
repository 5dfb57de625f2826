import type { ExecutorContext } from '@nx/devkit';
import { databaseCommand, tablesText } from '../database-command';
import type { DbBackupExecutorSchema } from './schema';

/**
 * A backup of the app's database now (pg_dump, custom format), kept on the host only once it was
 * restored into a scratch database with the same row counts; the profile's retention and
 * backup_command apply.
 */
export default async function dbBackup(options: DbBackupExecutorSchema, context: ExecutorContext) {
  return databaseCommand('db-backup', options, [], context, ({ say }, r) =>
    say(
      `Backup ${String(r['backup'])} (${String(r['size'])} bytes) kept and verified: ${tablesText(r['tables'])}.` +
        (r['copied'] === false
          ? ' WARNING: the backup_command failed to copy it off the host.'
          : ''),
    ),
  );
}
