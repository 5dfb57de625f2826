/** Bootstrap's own options; the Ansible folder and the app's ports come from its deploy target. */
export interface BootstrapExecutorSchema {
  profile?: string;
  adminUser?: string;
  engine?: 'docker' | 'podman';
  ciPublicKey?: string;
  check?: boolean;
}
