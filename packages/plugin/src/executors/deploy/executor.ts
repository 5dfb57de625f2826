import type { ExecutorContext } from '@nx/devkit';
import { typedOption } from '../command-line';
import { runRelease } from './lib/release-run';
import type { DeployExecutorSchema } from './schema';

export default async function deploy(options: DeployExecutorSchema, context: ExecutorContext) {
  return runRelease({
    ...options,
    tag: typedOption(context, 'tag', options.tag),
    action: 'deploy',
    app: context.projectName as string,
    workspaceRoot: context.root,
    context,
  });
}
