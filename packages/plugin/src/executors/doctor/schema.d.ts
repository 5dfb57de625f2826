export interface DoctorExecutorSchema {
  profile?: string;
  backendPort?: number;
  frontendPort?: number;
  minFreeGiB?: number;
  ansibleDir?: string;
}
