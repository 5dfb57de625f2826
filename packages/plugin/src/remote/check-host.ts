/**
 * The doctor's checks on one host, for the doctor target and for anything that must refuse to
 * act on a host that is not ready (deploy): one SSH command, one line per check.
 */
import type { SshSettings } from '../core/remote/ansible';
import {
  DoctorCheck,
  doctorCommand,
  doctorInput,
  doctorPassed,
  doctorReport,
  parseDoctorOutput,
} from '../core/remote/doctor';
import { DeployHost, DeployModel, publishedPorts } from '../core/release/deploy-model';
import type { Secrets } from '../core/config/redact';
import { run } from '../shell/run';
import { explainSshFailure } from './connection';

export interface HostCheckResult {
  passed: boolean;
  checks: DoctorCheck[];
  /** One line per check: `ok   ...`, `skip ...` or `FIX  ... what to do`. */
  lines: string[];
}

/**
 * Runs the checks on one host of the model, on the ports its release will publish (the model's
 * strategy: no colour ports under recreate). Throws only when the host cannot be reached.
 */
export async function checkHost(
  model: DeployModel,
  host: DeployHost,
  ssh: SshSettings,
  secrets: Secrets,
  minFreeGiB?: number,
): Promise<HostCheckResult> {
  const { profile, ports } = host;
  const input = doctorInput(profile, model.app, publishedPorts(model.strategy, ports), {
    minFreeGiB,
    projectPrefix: host.projectPrefix,
    publicPorts: publishedPorts('recreate', ports),
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
