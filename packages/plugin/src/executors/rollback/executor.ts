import type { ExecutorContext } from '@nx/devkit';
import { typedOption } from '../command-line';
import { runRelease } from '../deploy/lib/release-run';
import type { RollbackExecutorSchema } from './schema';

export default async function rollback(options: RollbackExecutorSchema, context: ExecutorContext) {
  const { to, ...rest } = options;
  return runRelease({
    ...rest,
    tag: typedOption(context, 'to', to),
    force: false,
    action: 'rollback',
    app: context.projectName as string,
    workspaceRoot: context.root,
  });
}
