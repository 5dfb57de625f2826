export interface PreviewExecutorSchema {
  profile?: string;
  pr?: number;
  destroy?: boolean;
  prune?: boolean;
  tag?: string;
  dryRun?: boolean;
}
