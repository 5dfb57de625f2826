export interface DbBackupExecutorSchema {
  profile?: string;
  ansibleDir?: string;
}
