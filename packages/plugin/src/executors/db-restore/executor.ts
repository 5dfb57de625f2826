import type { ExecutorContext } from '@nx/devkit';
import { databaseCommand, tablesText } from '../database-command';
import type { DbRestoreExecutorSchema } from './schema';

const BACKUP_NAME = /^\d{8}T\d{6}Z-[a-z0-9-]+$/;

/**
 * The app's database put back from a kept backup (status lists them), in one transaction, after
 * a verified backup of what it holds now; the live release keeps serving and is checked after.
 */
export default async function dbRestore(
  options: DbRestoreExecutorSchema,
  context: ExecutorContext,
) {
  const { from, ...own } = options;
  if (!from || !BACKUP_NAME.test(from))
    throw new Error(
      `give --from=<backup>, a backup's name as status lists it (e.g. 20261207T101500Z-manual), got "${from ?? ''}".`,
    );
  return databaseCommand('db-restore', own, [from], context, ({ say }, r) =>
    say(
      `Restored ${String(r['backup'])} (${tablesText(r['tables'])}); what the database held before is backup ${String(r['safety_backup'])}. ` +
        (r['healthy'] === false
          ? 'WARNING: the live release does not answer its health check since.'
          : 'The live release answers its health check.'),
    ),
  );
}
