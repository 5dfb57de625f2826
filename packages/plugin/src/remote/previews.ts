/**
 * The previews on a host, listed and removed through the host helper (conveyor_host/preview.py).
 * Each preview's folder holds a helper installed by its release: the list runs the first one
 * found (no preview, nothing to list), a removal runs the preview's own.
 */
import { environmentName, type Profile } from '../core/config/profile';
import type { EdgePlan } from '../core/edge/edge';
import type { PreviewOnHost } from '../core/release/preview';
import { previewsRoot } from '../core/release/preview';
import { HOST_HELPER, hostResult, onHost, parseHostEvents } from '../core/remote/host';
import { run } from '../shell/run';
import { explainSshFailure } from './connection';
import { askHelper, HelperCall } from './helper';

/** Runs the first preview's helper to list every preview of app under root; none: an empty list. */
const LIST = `for h in "$1"/pr-*/"$2"/.conveyor/${HOST_HELPER}; do [ -x "$h" ] && exec "$h" previews "$1" "$2"; done; echo '{"event":"result","status":"ok","previews":[]}'`;

/** The previews of the app on the host of `call.profile` (the profile's own, not a preview's). */
export async function listPreviews(call: HelperCall): Promise<PreviewOnHost[]> {
  const r = await run(
    onHost(call.profile, call.ssh, [
      'sh',
      '-c',
      LIST,
      'previews',
      previewsRoot(call.profile),
      call.app,
    ]),
    { secrets: call.secrets, stream: false },
  );
  const result = hostResult(parseHostEvents(r.stdout));
  if (!result || result.status !== 'ok' || !Array.isArray(result['previews'])) {
    const why = r.code === 255 ? explainSshFailure(r.output, call.profile) : undefined;
    throw new Error(
      why ??
        `Listing the previews on ${call.profile.ssh_host} failed (exit ${r.code}): ${r.output.trim().slice(-300)}`,
    );
  }
  return result['previews'] as PreviewOnHost[];
}

export interface DestroySpec {
  engine_command: string;
  compose_command: string;
  project_prefix: string;
  who: string;
  lock_timeout: number;
  edge?: EdgePlan;
}

/** Removes one preview (call.profile is the preview's); a preview that is not there is a no-op. */
export async function destroyPreview(call: HelperCall & { profile: Profile }, spec: DestroySpec) {
  const a = await askHelper(call, 'destroy-preview', [], JSON.stringify(spec));
  if (a.missing)
    return { status: 'noop', message: `no preview ${environmentName(call.profile)} here` };
  if (a.result?.status !== 'ok' && a.result?.status !== 'noop')
    throw new Error(
      `Removing ${environmentName(call.profile)} failed: ${String(a.result?.['error'] ?? a.result?.['holder'] ?? a.output.trim().slice(-300))}`,
    );
  return { status: a.result.status, message: String(a.result['message'] ?? '') };
}
