import type { ExecutorContext } from '@nx/devkit';
import { typedOption } from '../command-line';
import { withDeployOptions } from '../deploy-target';
import { runRelease } from '../deploy/lib/release-run';
import type { RollbackExecutorSchema } from './schema';

/** Rollback: the app's deploy target (ports, paths, strategy, secrets) going back to --to or the previous release. */
export default async function rollback(options: RollbackExecutorSchema, context: ExecutorContext) {
  const { to, ...own } = options;
  return runRelease({
    ...withDeployOptions(own, context),
    tag: typedOption(context, 'to', to),
    force: false,
    promote: false,
    abort: false,
    replaceAbandoned: false,
    moveFrom: undefined,
    action: 'rollback',
    app: context.projectName as string,
    workspaceRoot: context.root,
  });
}
