import type { ExecutorContext } from '@nx/devkit';
import { cliText } from '../../core/tags';
import { commandLineArgs } from '../command-line';
import { runRelease } from './lib/release-run';
import type { DeployExecutorSchema } from './schema';

export default async function deploy(options: DeployExecutorSchema, context: ExecutorContext) {
  return runRelease({
    ...options,
    tag: cliText('tag', options.tag, commandLineArgs(context)),
    action: 'deploy',
    app: context.projectName as string,
    workspaceRoot: context.root,
  });
}
