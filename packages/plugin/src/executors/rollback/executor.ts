import type { ExecutorContext } from '@nx/devkit';
import { cliText } from '../../core/tags';
import { commandLineArgs } from '../command-line';
import { runRelease } from '../deploy/lib/release-run';
import type { RollbackExecutorSchema } from './schema';

export default async function rollback(options: RollbackExecutorSchema, context: ExecutorContext) {
  const { to, ...rest } = options;
  return runRelease({
    ...rest,
    tag: cliText('to', to, commandLineArgs(context)),
    force: false,
    action: 'rollback',
    app: context.projectName as string,
    workspaceRoot: context.root,
  });
}
