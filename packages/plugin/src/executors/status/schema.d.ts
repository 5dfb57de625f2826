export interface StatusExecutorSchema {
  profile?: string;
  json?: boolean;
  ansibleDir?: string;
}
