/**
 * Application secrets, pure: where a profile's secrets live, how their text is parsed (dotenv or
 * JSON, from the encrypted file or a secret store's command), how the file's text is written back,
 * and the messages. Errors name files, keys and lines, never a value.
 */
import { SECRET_ENV, TOOL_ENV } from './names';

/** Per profile, the encrypted secrets: config/secrets/<profile>.vault (ansible-vault). */
export const SECRETS_DIR = 'config/secrets';
export const VAULT_EXTENSION = '.vault';

/** The key of the encrypted file: the variable, or a file holding it. */
export const SECRETS_KEY_ENV = SECRET_ENV.secretsKey;
export const SECRETS_KEY_FILE_ENV = TOOL_ENV.secretsKeyFile;

/** A secret's name: also its file name under /run/secrets (the deploy schema's pattern). */
export const SECRET_NAME = /^[A-Z][A-Z0-9_]*$/;

export type Secrets = Record<string, string>;

export class SecretsError extends Error {
  override name = 'SecretsError';
}

export function secretsFile(profile: string): string {
  return `${SECRETS_DIR}/${profile}${VAULT_EXTENSION}`;
}

export function nameError(name: string): string | undefined {
  return SECRET_NAME.test(name)
    ? undefined
    : `"${name}" is not a secret name: use capital letters, digits and "_", starting with a letter (it becomes /run/secrets/<NAME>).`;
}

/** A dotenv value: bare, or '...' (literal) or "..." (with \n, \", \\ escapes). */
function dotenvValue(raw: string, where: string): string {
  const text = raw.trim();
  if (text.startsWith("'")) {
    if (text.length < 2 || !text.endsWith("'"))
      throw new SecretsError(`${where}: a value opened with ' is not closed.`);
    return text.slice(1, -1);
  }
  if (text.startsWith('"')) {
    if (text.length < 2 || !text.endsWith('"') || text.endsWith('\\"'))
      throw new SecretsError(`${where}: a value opened with " is not closed.`);
    return text
      .slice(1, -1)
      .replace(/\\(["\\nrt])/g, (_m, c: string) =>
        c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c,
      );
  }
  return text;
}

/**
 * dotenv: `NAME=value` lines, `export ` allowed, `#` comments and blank lines skipped. A line that
 * is not an assignment is reported by its number only (it may be a pasted value).
 */
export function parseDotenv(text: string, source: string): Secrets {
  const out: Secrets = {};
  text.split(/\r?\n/).forEach((line, i) => {
    const where = `${source}, line ${i + 1}`;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const m = /^(?:export\s+)?([^=\s]+)\s*=(.*)$/.exec(trimmed);
    if (!m) throw new SecretsError(`${where}: expected NAME=value.`);
    const [, name, raw] = m;
    const bad = nameError(name);
    if (bad) throw new SecretsError(`${where}: ${bad}`);
    if (name in out) throw new SecretsError(`${where}: ${name} is set twice.`);
    out[name] = dotenvValue(raw, where);
  });
  return out;
}

/** The file's text: one NAME="value" line per secret, sorted, values escaped. */
export function formatDotenv(secrets: Secrets): string {
  return Object.keys(secrets)
    .sort()
    .map((name) => {
      const value = secrets[name]
        .replace(/\\/g, '\\\\')
        .replace(/"/g, '\\"')
        .replace(/\n/g, '\\n')
        .replace(/\r/g, '\\r')
        .replace(/\t/g, '\\t');
      return `${name}="${value}"\n`;
    })
    .join('');
}

function flatStrings(value: unknown): Secrets | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return undefined;
  const out: Secrets = {};
  for (const [k, v] of entries) {
    if (typeof v === 'string') out[k] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
    else return undefined;
  }
  return out;
}

/**
 * A store's JSON: a flat object of names to values, or the envelope of a well-known store:
 * Vault KV v2 (`data.data`), Vault KV v1 (`data`), AWS Secrets Manager (`SecretString`, itself
 * JSON or dotenv).
 */
function parseJson(doc: unknown, source: string): Secrets {
  const obj = (doc ?? {}) as Record<string, unknown>;
  const data = obj['data'] as Record<string, unknown> | undefined;
  if (typeof obj['SecretString'] === 'string') return parseSecretsText(obj['SecretString'], source);
  const candidates: unknown[] = [data?.['data'], data, doc];
  for (const c of candidates) {
    const flat = flatStrings(c);
    if (flat) return checked(flat, source);
  }
  throw new SecretsError(
    `${source}: JSON output is not an object of names to values (nor Vault's data.data, nor AWS's SecretString).`,
  );
}

function checked(secrets: Secrets, source: string): Secrets {
  for (const name of Object.keys(secrets)) {
    const bad = nameError(name);
    if (bad) throw new SecretsError(`${source}: ${bad}`);
  }
  return secrets;
}

/** dotenv or JSON (told apart by the first character), as a store command prints it. */
export function parseSecretsText(text: string, source: string): Secrets {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let doc: unknown;
    try {
      doc = JSON.parse(trimmed);
    } catch {
      // The parser's message may quote the text: say where, not what.
      throw new SecretsError(`${source}: output starts with "{" but is not valid JSON.`);
    }
    return parseJson(doc, source);
  }
  return parseDotenv(text, source);
}

/** The declared names the source does not have (an empty value counts as missing). */
export function missingSecrets(declared: readonly string[], secrets: Secrets): string[] {
  return declared.filter((name) => !(name in secrets) || secrets[name] === '');
}

export function missingMessage(
  app: string,
  profile: string,
  source: string,
  missing: readonly string[],
): string {
  const one = missing.length === 1;
  return (
    `${app} declares secret${one ? '' : 's'} ${missing.join(', ')}, which ${source} (profile "${profile}") does not have. ` +
    `Add ${one ? 'it' : 'them'}: nx run ${app}:secrets --configuration=${profile} set ${missing[0]} (value on stdin). The host was not touched.`
  );
}

/** Only the declared secrets, in name order. */
export function pick(declared: readonly string[], secrets: Secrets): Secrets {
  return Object.fromEntries([...declared].sort().map((name) => [name, secrets[name]]));
}

/** Values to redact: every value long enough to be recognised (short ones would mask words). */
export function redactable(secrets: Secrets): string[] {
  return Object.values(secrets).filter((v) => v.length >= 4);
}
