/** OCI distribution API addresses as data. */
import { registryHost } from './names';

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** https unless the registry names http:// or is on loopback (as docker and podman treat it). */
export function registryBaseUrl(registry: string): string {
  const explicit = /^(https?):\/\//i.exec(registry.trim());
  const host = registryHost(registry);
  if (explicit) return `${explicit[1].toLowerCase()}://${host}`;
  const name = host.replace(/:\d+$/, '');
  const loopback = name === 'localhost' || /^127\./.test(name) || name === '[::1]';
  return `${loopback ? 'http' : 'https'}://${host}`;
}

export function manifestUrl(registry: string, repository: string, reference: string): string {
  return `${registryBaseUrl(registry)}/v2/${repository}/manifests/${encodeURIComponent(reference)}`;
}

export function tagsUrl(registry: string, repository: string): string {
  return `${registryBaseUrl(registry)}/v2/${repository}/tags/list`;
}

export function pingUrl(registry: string): string {
  return `${registryBaseUrl(registry)}/v2/`;
}

/** Parses a `WWW-Authenticate: Bearer realm="..",service="..",scope=".."` challenge. */
export function parseBearerChallenge(
  header: string | null,
): { realm: string; service?: string; scope?: string } | undefined {
  if (!header || !/^bearer\s/i.test(header)) return undefined;
  const params: Record<string, string> = {};
  for (const m of header.slice(7).matchAll(/([a-z]+)="([^"]*)"/gi))
    params[m[1].toLowerCase()] = m[2];
  if (!params['realm']) return undefined;
  return { realm: params['realm'], service: params['service'], scope: params['scope'] };
}

export function blobUrl(registry: string, repository: string, digest: string): string {
  return `${registryBaseUrl(registry)}/v2/${repository}/blobs/${digest}`;
}

/** Starts an upload; with `mount`, asks the registry to link a blob another repository holds. */
export function uploadUrl(
  registry: string,
  repository: string,
  mount?: { digest: string; from: string },
): string {
  const base = `${registryBaseUrl(registry)}/v2/${repository}/blobs/uploads/`;
  return mount
    ? `${base}?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}`
    : base;
}

/** The upload's Location (absolute or relative to the registry) with the digest that completes it. */
export function completeUploadUrl(registry: string, location: string, digest: string): string {
  const u = new URL(location, registryBaseUrl(registry));
  u.searchParams.set('digest', digest);
  return u.toString();
}
