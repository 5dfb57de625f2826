/**
 * A fleet behind one name (core/edge/edge.ts, certificateSources): the first host's edge obtains
 * the certificate over ACME; the deploy reads it there and brings it to every other host, on the
 * helper's stdin beside the app's secrets. Before the first certificate is asked for, the other
 * hosts' edges get the name's route, so the ACME challenges they receive go on to the first host.
 */
import { SHARED_TLS_VALUES } from '../core/edge/edge';
import type { DeployHost } from '../core/release/deploy-model';
import type { ReleasePlan } from '../core/release/release-plan';
import { installHelper, shippedHelper } from './direct';
import { askHelper } from './helper';
import { HOST_HELPER_FILE, type RunContext } from './host-run';

export interface SharedCertificate {
  cert: string;
  key: string;
}

type Work = { host: DeployHost; plan: ReleasePlan };

/** The host whose certificate the others serve, when some host's plan serves a shared one. */
export function certificateHolder(work: Work[]): Work | undefined {
  const source = work.find((w) => w.plan.edge?.shared_from)?.plan.edge?.shared_from;
  return source ? work.find((w) => w.host.name === source.host) : undefined;
}

/**
 * The certificate and key the holder's edge obtained for its name, or undefined (none yet, or the
 * app never ran there). Both join the values redacted from every line printed.
 */
export async function readObtained(
  rc: RunContext,
  holder: Work,
): Promise<SharedCertificate | undefined> {
  const call = { profile: holder.host.profile, app: rc.app, ssh: rc.ssh, secrets: rc.secrets };
  const spec = { edge: holder.plan.edge, engine_command: holder.plan.engine_command };
  const a = await askHelper(call, 'edge-certificate', ['-'], JSON.stringify(spec));
  if (a.missing || String(a.result?.status) === 'missing') return undefined;
  const cert = a.result?.['cert'];
  const key = a.result?.['key'];
  if (a.result?.status !== 'ok' || typeof cert !== 'string' || typeof key !== 'string')
    throw new Error(
      `${holder.host.name}: reading the certificate its edge obtained failed (exit ${a.code}).`,
    );
  rc.secrets.push(key, cert);
  return { cert, key };
}

/** The values a release carries on stdin: the app's secrets, and the shared certificate if any. */
export function withCertificate(
  appSecrets: Record<string, string> | undefined,
  shared: SharedCertificate | undefined,
): Record<string, string> | undefined {
  if (!shared) return appSecrets;
  return {
    ...appSecrets,
    [SHARED_TLS_VALUES.cert]: shared.cert,
    [SHARED_TLS_VALUES.key]: shared.key,
  };
}

/**
 * The name's route on the edges of the hosts that serve a shared certificate, before the holder
 * first asks the CA (which may send its challenge to any of them): nothing of a release changes.
 */
export async function routeChallenges(rc: RunContext, work: Work[]): Promise<void> {
  const helper = shippedHelper(HOST_HELPER_FILE);
  await Promise.all(
    work
      .filter((w) => w.plan.edge?.tls === 'shared')
      .map(async (w) => {
        await installHelper(rc, w.host.profile, helper);
        const call = { profile: w.host.profile, app: rc.app, ssh: rc.ssh, secrets: rc.secrets };
        const spec = {
          edge: w.plan.edge,
          engine_command: w.plan.engine_command,
          compose_command: w.plan.compose_command,
        };
        const a = await askHelper(call, 'edge-route', ['-'], JSON.stringify(spec));
        if (a.result?.status !== 'ok')
          throw new Error(
            `${w.host.name}: the edge could not take ${String(w.plan.edge?.domain)} (to pass the CA's challenges on): ${String(a.result?.['error'] ?? a.output.trim().slice(-300))}`,
          );
      }),
  );
}

/**
 * The batches with the holder alone first, when the others wait for its first certificate.
 */
export function holderFirst(steps: Work[][], holder: Work): Work[][] {
  const out: Work[][] = [];
  for (const step of steps) {
    if (!step.includes(holder) || step.length === 1) out.push(step);
    else
      out.push(
        [holder],
        step.filter((w) => w !== holder),
      );
  }
  return out;
}
