export interface BootstrapExecutorSchema {
  profile?: string;
  adminUser?: string;
  engine?: 'docker' | 'podman';
  ciPublicKey?: string;
  backendPort?: number;
  frontendPort?: number;
  ansibleDir: string;
  check?: boolean;
}
