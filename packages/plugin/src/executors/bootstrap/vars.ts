/** The extra vars of bootstrap.yml and the reading of its recap. Pure. */
import { sshCommonArgs, SshSettings } from '../../core/remote/ansible';
import type { Profile } from '../../core/config/profile';
import { edgePorts } from '../../core/edge/edge';

export interface BootstrapVarsInput {
  profile: Profile;
  adminUser: string;
  engine: 'docker' | 'podman';
  ciPublicKey: string;
  ports: number[];
  /** How the admin connects (its key, known hosts). */
  adminSsh: SshSettings;
  /** The CI private key: the deploy user's login is checked with it. */
  deployKeyFile: string;
}

export function bootstrapVars(i: BootstrapVarsInput): Record<string, unknown> {
  const vars: Record<string, unknown> = {
    conveyor_ssh_host: i.profile.ssh_host,
    conveyor_ssh_user: i.adminUser,
    conveyor_ssh_port: i.profile.ssh_port,
    conveyor_deploy_user: i.profile.ssh_user,
    conveyor_deploy_path: i.profile.deploy_path,
    conveyor_engine: i.engine,
    // The app's ports, and the edge's (80/443) when the profile gives the app a domain.
    conveyor_public_ports: [...new Set([...i.ports, ...edgePorts(i.profile)])].sort(
      (a, b) => a - b,
    ),
    conveyor_ci_public_key: i.ciPublicKey.trim(),
    conveyor_deploy_key_file: i.deployKeyFile,
    ansible_ssh_common_args: sshCommonArgs(i.adminSsh),
  };
  if (i.adminSsh.keyFile) vars['ansible_ssh_private_key_file'] = i.adminSsh.keyFile;
  return vars;
}

/** Per host of the PLAY RECAP: how many tasks changed, and whether any failed or was unreachable. */
export function parseRecap(output: string): { host: string; changed: number; failed: boolean }[] {
  const hosts: { host: string; changed: number; failed: boolean }[] = [];
  const recap = output.split(/PLAY RECAP \**/).pop() ?? '';
  for (const m of recap.matchAll(
    /^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm,
  ))
    hosts.push({ host: m[1], changed: Number(m[2]), failed: m[3] !== '0' || m[4] !== '0' });
  return hosts;
}

/** The one-line outcome: a second run of a ready host says that nothing changed. */
export function recapSummary(output: string, check: boolean): string {
  const hosts = parseRecap(output);
  if (hosts.length === 0) return 'bootstrap printed no recap.';
  const changed = hosts.filter((h) => h.changed > 0);
  if (changed.length === 0) return 'Nothing changed: every host was already ready.';
  return `${check ? 'Would change' : 'Changed'} ${changed.map((h) => `${h.host} (${h.changed} tasks)`).join(', ')}.`;
}
