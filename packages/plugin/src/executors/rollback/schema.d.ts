/** Rollback's own options; the app's ports, paths, strategy and gate come from its deploy target. */
export interface RollbackExecutorSchema {
  /** Given on the command line: a digits-only tag may arrive as a number (see cliText). */
  to?: string | number;
  profile?: string;
  healthTimeout?: number;
  lockTimeout?: number;
  dryRun?: boolean;
  breakLock?: boolean;
}
