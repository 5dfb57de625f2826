import type { ExecutorContext } from '@nx/devkit';

/**
 * This task's command-line arguments as typed, which Nx keeps in its task graph (the options an
 * executor gets have been through its number parsing; see `cliText` in core/tags).
 */
export function commandLineArgs(context: ExecutorContext): string[] | undefined {
  const task = Object.values(context.taskGraph?.tasks ?? {}).find(
    (t) => t.target.project === context.projectName && t.target.target === context.targetName,
  );
  const raw: unknown = task?.overrides?.['__overrides_unparsed__'];
  return Array.isArray(raw) ? raw.map(String) : undefined;
}
