/** What a deploy or rollback reports when its playbook did not end well (pure: text from the recorded outcome). */
import type { DeployAction } from '../remote/ansible';
import type { Strategy } from '../config/profile';

/** Written by the playbook to the result file. */
export interface PlaybookOutcome {
  status?: 'ok' | 'noop' | 'failed' | 'lock-held';
  tag?: string;
  /** The release /metrics reports after the run ('' when nothing answers). */
  live?: string;
  previous_tag?: string;
  restored?: boolean;
  error?: string;
  holder?: string;
  logs?: string;
  /** How far the release got: lock and pull change nothing on the host. */
  phase?: string;
}

export function failureMessage(
  action: DeployAction,
  strategy: Strategy,
  o: PlaybookOutcome,
): string {
  const what = `${action} of ${o.tag} failed (${o.error ?? 'unhealthy'})`;
  if (o.phase === 'lock' || o.phase === 'pull')
    return `${what}; nothing was changed on the host${o.live ? `; ${o.live} is live: it kept serving` : ''}.`;
  if (o.phase === 'edge') return `${what}; ${o.live || o.tag} is live on its ports.`;
  if (o.restored) {
    return strategy === 'blue-green'
      ? `${what}; ${o.live} is live: it kept serving, the new colour never took traffic or was switched back.`
      : `${what}; rolled back automatically: ${o.live} is live again.`;
  }
  if (!o.previous_tag) {
    return `${what}; there was no previous release to roll back to. The failed containers' logs are above.`;
  }
  if (o.live) return `${what}; ${o.live} is serving.`;
  return `${what} and ${o.previous_tag} could not be brought back: nothing healthy answers. The failed containers' logs are above.`;
}

/** A lock held by another release: who, whether it still runs, and how to go on safely. */
export function lockHeldMessage(
  where: string,
  result: { holder?: unknown; alive?: unknown; pid?: unknown },
  app: string,
  profile: string,
): string {
  const holder = String(result.holder || 'an unknown holder');
  if (result.alive === true)
    return (
      `Another release holds the lock on ${where}: ${holder}. It is still running (pid ${String(result.pid)} on the host): ` +
      'wait for it and deploy again. A holder that dies (killed, host restarted) is detected and its lock broken by the next deploy.'
    );
  return (
    `The lock on ${where} is held by ${holder}, whose process cannot be checked (left by an older Conveyor?). ` +
    `If no release runs there, break it with nx run ${app}:deploy --configuration=${profile} --breakLock.`
  );
}

/** Where a host of a fleet ended after a failed release and its revert, as read from the host. */
export interface HostEnd {
  host: string;
  /** The release it served before this run ('' or undefined: none). */
  had?: string;
  /** The release it serves now, read after the revert (undefined: it could not be read). */
  live?: string;
}

/**
 * How a fleet ended after a failed release, from what each host reports after the revert (never
 * from what the revert was asked to do): "every host is back" only when every host says so.
 */
export function fleetEndMessage(ends: HostEnd[], notes: string[], statusCommand: string): string {
  const astray = ends.filter((e) => e.had && e.live !== e.had);
  const noted = notes.join('; ') || 'no other host was switched';
  if (!astray.length) return `Every host is back on the release it had: ${noted}.`;
  const where = ends
    .map(
      (e) =>
        `${e.host} ${e.live === undefined ? 'could not be read' : `on ${e.live || 'nothing'}`}`,
    )
    .join(', ');
  const versions = new Set(ends.map((e) => e.live));
  return (
    `Not every host is back on the release it had (${astray.map((e) => `${e.host} had ${e.had}`).join(', ')}): ` +
    `${where}${versions.size > 1 ? ' (more than one release live)' : ''}. ${noted}. ` +
    `See ${statusCommand}, then deploy again to bring every host to one release.`
  );
}
