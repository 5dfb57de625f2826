import type { ExecutorContext } from '@nx/devkit';
import { cliText } from '../core/release/tags';

/**
 * A text option of this task as the user typed it: Nx keeps the raw command-line arguments in its
 * task graph, while the options an executor gets have been through its number parsing (see
 * `cliText` in core/tags).
 */
export function typedOption(
  context: ExecutorContext,
  name: string,
  value: string | number | undefined,
): string | undefined {
  const task = Object.values(context.taskGraph?.tasks ?? {}).find(
    (t) => t.target.project === context.projectName && t.target.target === context.targetName,
  );
  const raw: unknown = task?.overrides?.['__overrides_unparsed__'];
  return cliText(name, value, Array.isArray(raw) ? raw.map(String) : undefined);
}
