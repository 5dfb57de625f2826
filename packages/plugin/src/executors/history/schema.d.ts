export interface HistoryExecutorSchema {
  profile?: string;
  limit?: number;
  json?: boolean;
  ansibleDir?: string;
}
