import type { DeployExecutorSchema } from '../deploy/schema';

export interface RollbackExecutorSchema extends Omit<DeployExecutorSchema, 'tag' | 'force'> {
  to?: string;
}
