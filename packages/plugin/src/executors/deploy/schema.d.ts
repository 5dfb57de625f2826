export interface DeployExecutorSchema {
  profile?: string;
  tag?: string;
  healthTimeout?: number;
  lockTimeout?: number;
  dryRun?: boolean;
  force?: boolean;
  ansibleDir: string;
  composeFile: string;
  backendPort: number;
  frontendPort?: number;
  loginCommand?: string;
}
