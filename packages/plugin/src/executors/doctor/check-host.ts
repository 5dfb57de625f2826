/**
 * The doctor's checks on one host, for the doctor target and for anything that must refuse to
 * act on a host that is not ready (deploy): one SSH command, one line per check.
 */
import type { SshSettings } from '../../core/ansible';
import {
  DoctorCheck,
  doctorCommand,
  doctorInput,
  doctorPassed,
  doctorReport,
  parseDoctorOutput,
} from '../../core/doctor';
import type { Profile } from '../../core/profile';
import type { Secrets } from '../../core/redact';
import { colorPorts } from '../../core/strategy';
import { run } from '../../shell/run';
import { explainSshFailure } from '../deploy/lib/connection';

export interface HostCheckOptions {
  backendPort: number;
  frontendPort?: number;
  /** Compose project prefix of the host's own (default <app>-<profile>). */
  projectPrefix?: string;
  minFreeGiB?: number;
}

export interface HostCheckResult {
  passed: boolean;
  checks: DoctorCheck[];
  /** One line per check: `ok   ...`, `skip ...` or `FIX  ... what to do`. */
  lines: string[];
}

/** Every port the app publishes on the host: public ports, and each colour's unless recreate. */
export function appPorts(profile: Profile, o: HostCheckOptions): number[] {
  const ports = [o.backendPort, ...(o.frontendPort === undefined ? [] : [o.frontendPort])];
  if (profile.strategy === 'recreate') return ports;
  const colors = colorPorts(o.backendPort, o.frontendPort);
  for (const c of Object.values(colors))
    ports.push(...Object.values(c).filter((p): p is number => typeof p === 'number'));
  return ports;
}

/** Runs the checks on the profile's host. Throws only when the host cannot be reached. */
export async function checkHost(
  profile: Profile,
  app: string,
  ssh: SshSettings,
  secrets: Secrets,
  o: HostCheckOptions,
): Promise<HostCheckResult> {
  const input = doctorInput(profile, app, appPorts(profile, o), {
    minFreeGiB: o.minFreeGiB,
    projectPrefix: o.projectPrefix,
    publicPorts: [o.backendPort, ...(o.frontendPort === undefined ? [] : [o.frontendPort])],
  });
  const r = await run(doctorCommand(profile, ssh, input), { secrets, stream: false });
  const ssh255 = r.code === 255 ? explainSshFailure(r.output, profile) : undefined;
  if (ssh255) throw new Error(ssh255);
  if (!r.stdout.includes('CONVEYOR-DOCTOR'))
    throw new Error(
      `The checks did not run on the host (exit ${r.code}): ${r.output.trim().slice(-400)}`,
    );
  const checks = parseDoctorOutput(r.stdout);
  const user = profile.connection === 'local' ? 'this user' : profile.ssh_user;
  return { passed: doctorPassed(checks), checks, lines: doctorReport(checks, input, user) };
}
