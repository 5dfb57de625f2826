export interface MetricsInjectExecutorSchema {
  app: string;
  hasFrontend?: boolean;
  outputFile: string;
  profile?: string;
}
