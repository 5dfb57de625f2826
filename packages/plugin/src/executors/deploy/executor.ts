import type { ExecutorContext } from '@nx/devkit';
import { runRelease } from './lib/release-run';
import type { DeployExecutorSchema } from './schema';

export default async function deploy(options: DeployExecutorSchema, context: ExecutorContext) {
  return runRelease({
    ...options,
    action: 'deploy',
    app: context.projectName as string,
    workspaceRoot: context.root,
  });
}
