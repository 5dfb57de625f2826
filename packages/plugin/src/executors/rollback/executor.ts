import type { ExecutorContext } from '@nx/devkit';
import { typedOption } from '../command-line';
import { runRelease } from '../deploy/lib/release-run';
import { declaredSecrets } from '../deploy/lib/secrets';
import type { RollbackExecutorSchema } from './schema';

export default async function rollback(options: RollbackExecutorSchema, context: ExecutorContext) {
  const { to, ...rest } = options;
  return runRelease({
    ...rest,
    // The app declares its secrets once, on its deploy target.
    secrets: declaredSecrets({ secrets: rest.secrets }, context),
    tag: typedOption(context, 'to', to),
    force: false,
    action: 'rollback',
    app: context.projectName as string,
    workspaceRoot: context.root,
  });
}
