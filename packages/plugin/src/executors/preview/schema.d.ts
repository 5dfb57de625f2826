export interface PreviewExecutorSchema {
  profile?: string;
  pr?: number;
  destroy?: boolean;
  prune?: boolean;
  /** Given on the command line: a digits-only tag may arrive as a number (see cliText). */
  tag?: string | number;
  dryRun?: boolean;
}
