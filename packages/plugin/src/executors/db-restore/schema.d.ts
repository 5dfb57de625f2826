export interface DbRestoreExecutorSchema {
  profile?: string;
  ansibleDir?: string;
  from?: string;
}
