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

/**
 * Where text that arrives in pieces can be cut: before a tail that may still grow into a secret,
 * and never inside a whole secret.
 */
function safeCut(text: string, secrets: Secrets): number {
  const longest = Math.max(0, ...secrets.map((s) => s.length));
  let cut = text.length;
  for (let p = Math.max(0, text.length - longest + 1); p < text.length; p++) {
    const tail = text.slice(p);
    if (secrets.some((s) => s.startsWith(tail))) {
      cut = p;
      break;
    }
  }
  for (let moved = true; moved; ) {
    moved = false;
    for (const s of secrets) {
      const at = text.indexOf(s, Math.max(0, cut - s.length + 1));
      if (at !== -1 && at < cut && at + s.length > cut) {
        cut = at;
        moved = true;
      }
    }
  }
  return cut;
}

/**
 * Redacts a stream that arrives in pieces (a process's output): a secret split across two pieces
 * is masked all the same. push() returns what can be shown now; a tail that may be the start of a
 * secret is held until the next piece, and end() returns it.
 */
export function redactStream(secrets: Secrets): { push(text: string): string; end(): string } {
  const list = secrets.filter((s) => s.length > 0);
  let held = '';
  return {
    push(text) {
      held += text;
      const cut = safeCut(held, list);
      const out = redact(held.slice(0, cut), list);
      held = held.slice(cut);
      return out;
    },
    end() {
      const out = redact(held, list);
      held = '';
      return out;
    },
  };
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
