export interface MaintenanceExecutorSchema {
  profile?: string;
  on?: boolean;
  off?: boolean;
  ansibleDir?: string;
}
