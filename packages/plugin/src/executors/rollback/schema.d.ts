import type { DeployExecutorSchema } from '../deploy/schema';

export interface RollbackExecutorSchema extends Omit<DeployExecutorSchema, 'tag' | 'force'> {
  /** Given on the command line: a digits-only tag may arrive as a number (see cliText). */
  to?: string | number;
}
