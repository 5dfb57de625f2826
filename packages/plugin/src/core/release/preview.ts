/**
 * Previews: a pull request's release on the hosts of a profile (staging), as an environment of its
 * own, `pr-<n>`, at `pr-<n>.<preview_domain>`. It has its own folder (its state, lock, history and
 * secrets file), its own compose projects and its own name on the host's edge; the profile's own
 * environment is never touched. What a preview is, where it lives and which ports it takes is
 * decided here, once. Pure: no processes, no files.
 */
import { previewEnv, type Profile } from '../config/profile';
import type { AppPorts } from './deploy-model';

/** The folder under deploy_path that holds every preview of every app. */
export const PREVIEWS_DIR = 'previews';

export { environmentName, previewEnv } from '../config/profile';

/** --pr checked: a pull request number. */
export function parsePr(value: unknown): number {
  const n = typeof value === 'number' ? value : Number(String(value ?? '').trim());
  if (!Number.isInteger(n) || n < 1 || n > 99_999_999)
    throw new Error(`--pr must be a pull request number (1 or more), got "${String(value)}".`);
  return n;
}

/** The folder holding every preview on a host of this profile. */
export function previewsRoot(profile: Pick<Profile, 'deploy_path'>): string {
  return `${profile.deploy_path.replace(/\/+$/, '')}/${PREVIEWS_DIR}`;
}

/**
 * The profile a preview deploys with: the same hosts, registry, secrets and edge, its own folder
 * (<deploy_path>/previews/pr-<n>), its own name (pr-<n>.<preview_domain>). A preview is released
 * by recreate: it serves a reviewer, not live traffic, and takes two host ports instead of six.
 */
export function previewProfile(profile: Profile, pr: number): Profile {
  checkPreviews(profile);
  return {
    ...profile,
    preview: pr,
    deploy_path: `${previewsRoot(profile)}/${previewEnv(pr)}`,
    domain: `${previewEnv(pr)}.${profile.preview_domain}`,
    tls: profile.tls_written ? profile.tls : 'acme',
    strategy: 'recreate',
  };
}

/** Refuses a profile that cannot run previews: no preview_domain, or tls: off. */
export function checkPreviews(profile: Profile): void {
  if (!profile.preview_domain)
    throw new Error(
      `${profile.file} sets no preview_domain: previews are served at pr-<n>.<preview_domain> (a wildcard DNS name pointing at the host).`,
    );
  if (profile.tls_written && profile.tls === 'off')
    throw new Error(
      `${profile.file} has tls: off: previews are served by the host's edge over HTTPS (tls acme or custom).`,
    );
}

/** A preview as the host lists it (conveyor_host/preview.py). */
export interface PreviewOnHost {
  app: string;
  pr: number;
  /** The preview's app folder on the host. */
  path: string;
  /** When its last release went live (ISO 8601), or when its folder changed last. */
  updated: string;
  tag?: string;
  domain?: string;
  ports: AppPorts;
}

/**
 * The ports a preview publishes: the ones it has when it exists (a new release keeps its name's
 * route), else the first pair of the profile's preview_ports that no preview on the host holds.
 */
export function previewPorts(
  profile: Pick<Profile, 'preview_ports' | 'file'>,
  app: string,
  pr: number,
  withFrontend: boolean,
  onHost: PreviewOnHost[],
): AppPorts {
  const own = onHost.find((p) => p.app === app && p.pr === pr);
  if (own && (own.ports.frontend !== undefined) === withFrontend) return own.ports;
  const taken = new Set(
    onHost
      .filter((p) => p !== own)
      .flatMap((p) => [
        p.ports.backend,
        ...(p.ports.frontend === undefined ? [] : [p.ports.frontend]),
      ]),
  );
  const { first, last } = profile.preview_ports;
  for (let port = first; port + 1 <= last; port += 2) {
    if (taken.has(port) || taken.has(port + 1)) continue;
    return withFrontend ? { backend: port, frontend: port + 1 } : { backend: port };
  }
  throw new Error(
    `Every port pair of ${profile.file}'s preview_ports (${first}-${last}) is held by a preview: prune old ones (nx run ${app}:preview --prune) or widen the range.`,
  );
}

/** The previews whose last release is older than ttlSeconds at `now`. */
export function expiredPreviews(
  onHost: PreviewOnHost[],
  ttlSeconds: number,
  now: Date,
): PreviewOnHost[] {
  return onHost.filter((p) => {
    const at = Date.parse(p.updated);
    return Number.isFinite(at) && now.getTime() - at > ttlSeconds * 1000;
  });
}

/** Seconds as a person reads a lifetime or an age: 7d, 36h, 90m, 5s. */
export function formatAge(seconds: number): string {
  if (seconds >= 86400) return `${Math.floor(seconds / 86400)}d`;
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)}h`;
  if (seconds >= 60) return `${Math.floor(seconds / 60)}m`;
  return `${Math.max(0, Math.floor(seconds))}s`;
}

/** The previews as status shows them: one line each, with its address, release and age. */
export function formatPreviews(
  list: PreviewOnHost[],
  profile: Pick<Profile, 'preview_ttl' | 'edge_https_port'>,
  now: Date,
): string[] {
  return list.map((p) => {
    const age = (now.getTime() - Date.parse(p.updated)) / 1000;
    const port = profile.edge_https_port === 443 ? '' : `:${profile.edge_https_port}`;
    const where = p.domain ? `https://${p.domain}${port}` : '(not served yet)';
    const expired =
      age > profile.preview_ttl ? ', expired: the next preview deploy or --prune removes it' : '';
    return `  preview ${previewEnv(p.pr)}: ${where} ${p.tag ? `serves ${p.tag}` : 'has no live release'}, last deployed ${formatAge(age)} ago${expired}`;
  });
}
