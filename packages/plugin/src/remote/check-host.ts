/**
 * The doctor's checks on one host, for the doctor target and for anything that must refuse to
 * act on a host that is not ready (deploy): one SSH command, one line per check.
 */
import type { SshSettings } from '../core/remote/ansible';
import {
  DoctorCheck,
  DoctorInput,
  DOCTOR_MARK,
  doctorCommand,
  doctorInput,
  doctorPassed,
  doctorReport,
  parseDoctorOutput,
} from '../core/remote/doctor';
import { DeployHost, DeployModel, publishedPorts } from '../core/release/deploy-model';
import type { Secrets } from '../core/config/redact';
import type { Profile } from '../core/config/profile';
import { run } from '../shell/run';
import { explainSshFailure } from './connection';

export interface HostCheckResult {
  passed: boolean;
  checks: DoctorCheck[];
  /** One line per check: `ok   ...`, `skip ...` or `FIX  ... what to do`. */
  lines: string[];
}

/** The checks' input for one host of the model: the ports its release will publish (the model's
 * strategy: no colour ports under recreate). */
export function hostCheckInput(
  model: DeployModel,
  host: DeployHost,
  minFreeGiB?: number,
): DoctorInput {
  return doctorInput(host.profile, model.app, publishedPorts(model.strategy, host.ports), {
    minFreeGiB,
    projectPrefix: host.projectPrefix,
    publicPorts: publishedPorts('recreate', host.ports),
  });
}

/** What the checks' lines say, for a person. */
export function hostCheckResult(
  text: string,
  input: DoctorInput,
  profile: Profile,
): HostCheckResult {
  const checks = parseDoctorOutput(text);
  const user = profile.connection === 'local' ? 'this user' : profile.ssh_user;
  return { passed: doctorPassed(checks), checks, lines: doctorReport(checks, input, user) };
}

/** Runs the checks on one host of the model. Throws only when the host cannot be reached. */
export async function checkHost(
  model: DeployModel,
  host: DeployHost,
  ssh: SshSettings,
  secrets: Secrets,
  minFreeGiB?: number,
): Promise<HostCheckResult> {
  const { profile } = host;
  const input = hostCheckInput(model, host, minFreeGiB);
  const r = await run(doctorCommand(profile, ssh, input), { secrets, stream: false });
  const ssh255 = r.code === 255 ? explainSshFailure(r.output, profile) : undefined;
  if (ssh255) throw new Error(ssh255);
  if (!r.stdout.includes(DOCTOR_MARK))
    throw new Error(
      `The checks did not run on the host (exit ${r.code}): ${r.output.trim().slice(-400)}`,
    );
  return hostCheckResult(r.stdout, input, profile);
}
