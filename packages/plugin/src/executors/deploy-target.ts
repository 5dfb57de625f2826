import type { ExecutorContext } from '@nx/devkit';
import { deployUnit } from '../core/workspace/deploy-units';
import type { DeployExecutorSchema } from './deploy/schema';

/**
 * The options of the project's deploy target under the same configuration, with this command's
 * own options over them. Rollback, doctor and bootstrap read the app's ports, paths, strategy and
 * gate from there: one place per app, not a copy per target. (Defaults are the deploy model's.)
 */
export function withDeployOptions<T extends object>(
  own: T,
  context: Pick<
    ExecutorContext,
    'projectName' | 'projectsConfigurations' | 'configurationName' | 'targetName'
  >,
): Omit<DeployExecutorSchema, keyof T> & T {
  const project = context.projectName as string;
  const config = context.projectsConfigurations?.projects[project];
  const unit = config && deployUnit(project, config);
  if (!unit)
    throw new Error(
      `${project} has no deploy target run by Conveyor's deploy executor: ${context.targetName} reads the app's ports, paths and strategy from it.`,
    );
  const configuration = context.configurationName
    ? config.targets?.['deploy']?.configurations?.[context.configurationName]
    : undefined;
  const mine = Object.fromEntries(Object.entries(own).filter(([, v]) => v !== undefined));
  return { ...unit.options, ...configuration, ...mine } as unknown as Omit<
    DeployExecutorSchema,
    keyof T
  > &
    T;
}
