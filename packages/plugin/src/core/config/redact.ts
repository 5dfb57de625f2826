/**
 * The one place that knows what is secret: values of these variables are never
 * printed, logged or put on a command line.
 */
import { SECRET_ENV } from './names';

export const MASK = '***';

export type Secrets = readonly string[];

/** Secret values present in an environment (empty and very short values are ignored). */
export function secretValues(
  env: Record<string, string | undefined>,
  extra: readonly string[] = [],
): string[] {
  const values: string[] = [];
  for (const name of Object.values(SECRET_ENV)) {
    const v = env[name];
    if (v && v.length >= 4) {
      values.push(v);
      // An SSH key arrives base64-encoded; its decoded form is just as secret.
      if (name === SECRET_ENV.sshKeyB64) {
        const decoded = Buffer.from(v, 'base64').toString('utf8');
        for (const line of decoded.split('\n'))
          if (line.trim().length >= 16) values.push(line.trim());
      }
    }
  }
  for (const v of extra) if (v && v.length >= 4) values.push(v);
  return values.sort((a, b) => b.length - a.length);
}

export function redact(text: string, secrets: Secrets): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join(MASK);
  return out;
}

/** A registry URL as it may be shown: without user:password. */
export function redactUrlCredentials(url: string): string {
  return url.replace(
    /^([a-z][a-z0-9+.-]*:\/\/)?[^@/]*@/i,
    (_m, scheme: string | undefined) => scheme ?? '',
  );
}

/**
 * A git remote URL as it may be shown (an image's source label, a command line, a log): without
 * userinfo (`https://user:TOKEN@host/...`, `https://TOKEN@host/...`, the user of
 * `git@host:org/repo.git`) and, for URLs, without query or fragment (`?private_token=...`).
 * A local path is returned as it is.
 */
export function publicRemoteUrl(url: string): string {
  const text = url.trim();
  const scheme = /^([a-z][a-z0-9+.-]*:\/\/)(.*)$/i.exec(text);
  if (scheme) {
    const [, prefix, rest] = scheme;
    // The authority ends at the first "/"; userinfo is everything up to its last "@" (a
    // password may hold "?", "#" or "@" its owner did not percent-encode).
    const slash = rest.indexOf('/');
    const authority = slash === -1 ? rest : rest.slice(0, slash);
    const path = slash === -1 ? '' : rest.slice(slash);
    const host = authority.slice(authority.lastIndexOf('@') + 1).replace(/[?#].*$/, '');
    return prefix + host + path.replace(/[?#].*$/, '');
  }
  // scp-like syntax, [user@]host:path: a ":" before any "/". The user goes, up to the last "@".
  const slash = text.indexOf('/');
  const head = slash === -1 ? text : text.slice(0, slash);
  if (head.includes(':')) return text.slice(head.lastIndexOf('@') + 1);
  return text;
}
