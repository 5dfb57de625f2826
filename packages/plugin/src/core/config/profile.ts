/**
 * Profiles: config/profiles/<name>.yml, values written as ${VAR} / ${VAR:-default}
 * references to the environment. Parsing and interpolation are pure; loadProfile
 * only reads files.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, YAMLParseError } from 'yaml';
import { PROFILES_DIR } from './names';
import { PortError, validatePort } from './ports';

export const PROFILE_KEYS = [
  'registry',
  'registry_namespace',
  'connection',
  'ssh_host',
  'ssh_user',
  'ssh_port',
  'deploy_path',
  'compose_command',
  'strategy',
  'drain_seconds',
  'proxy_image',
  'rollout_batches',
  'rollout_wait',
  'canary_steps',
  'canary_pause',
  'canary_max_error_ratio',
  'canary_max_p99',
  'canary_prometheus',
  'canary_window',
  'secrets_command',
  'domain',
  'tls',
  'acme_email',
  'acme_ca',
  'acme_ca_root',
  'acme_renewal_window',
  'edge_path',
  'edge_name',
  'edge_image',
  'edge_http_port',
  'edge_https_port',
  'preview_domain',
  'preview_ttl',
  'preview_ports',
  'database',
  'database_image',
  'database_backups_keep',
  'database_backup_command',
] as const;
export type ProfileKey = (typeof PROFILE_KEYS)[number];

export type Connection = 'ssh' | 'local';

export interface Profile {
  name: string;
  /** Workspace-relative path of the profile file. */
  file: string;
  registry: string;
  registry_namespace: string;
  connection: Connection;
  ssh_host: string;
  ssh_user: string;
  ssh_port: number;
  deploy_path: string;
  compose_command: string;
  strategy: Strategy;
  drain_seconds: number;
  proxy_image: string;
  /** Hosts of each step of a deploy to several hosts, e.g. "1, 25%, 100%" (default: all at once). */
  rollout_batches: string;
  /** Seconds to wait between two batches. */
  rollout_wait: number;
  /** strategy canary: the new colour's share of requests at each step, in percent, ending at 100. */
  canary_steps: number[];
  /** Seconds each canary step lasts (its analysis runs every second). */
  canary_pause: number;
  /** A canary whose share of 5xx responses is above this is aborted (the alert rule's default). */
  canary_max_error_ratio: number;
  /** A canary whose p99 latency in seconds is above this is aborted (the alert rule's default). */
  canary_max_p99: number;
  /**
   * A Prometheus the app's host reaches (e.g. http://127.0.0.1:9090) that scrapes each colour (the
   * monitoring generator's `<app>-colors` job): the canary is judged with PromQL there. Unset:
   * by the canary's own /metrics counters.
   */
  canary_prometheus?: string;
  /** Seconds of the PromQL range the canary's rates are taken over (at least 2 scrapes). */
  canary_window: number;
  /**
   * A command printing the app's secrets (dotenv or JSON) from a secret store, run with `sh -c`;
   * unset: the encrypted file config/secrets/<profile>.vault.
   */
  secrets_command?: string;
  /**
   * The app's name on the web (e.g. shop.example.com): the host's edge proxy serves it over HTTPS
   * on ports 80/443 and routes it to the app's proxy. Unset: the app answers on its raw ports only.
   */
  domain?: string;
  /** acme: a certificate from the ACME CA; custom: TLS_CERT/TLS_KEY from the app's secrets; off: no edge. */
  tls: TlsMode;
  /** The profile writes its tls (else it follows the domain: acme with one, off without). */
  tls_written?: boolean;
  acme_email: string;
  /** The ACME directory (default Let's Encrypt's production one). */
  acme_ca: string;
  /** A PEM file on this machine the edge trusts the ACME CA's own HTTPS with (a private or test CA). */
  acme_ca_root?: string;
  /**
   * The share of a certificate's life left when the edge renews it (Caddy's renewal window: 1/3,
   * 30 days of a 90-day certificate). The edge checks its certificates every minute.
   */
  acme_renewal_window: number;
  /** The edge's folder on the host (one edge per host: keep it the same for every app there). */
  edge_path: string;
  /**
   * The edge's compose project and container (default conveyor-edge). One edge per host: hosts
   * that share one engine (a test machine, a demo beside the tests) give each its own.
   */
  edge_name: string;
  edge_image: string;
  edge_http_port: number;
  edge_https_port: number;
  /**
   * The name previews of pull requests go under: PR 7 is served at pr-7.<preview_domain> (a
   * wildcard DNS name pointing at the host). Unset: no previews.
   */
  preview_domain?: string;
  /** Seconds a preview lives after its last deploy; older ones go at the next preview deploy or prune. */
  preview_ttl: number;
  /** The host ports previews take their public ports from, two per preview. */
  preview_ports: { first: number; last: number };
  /** Set on the profile a preview deploys with (core/release/preview.ts): its pull request. */
  preview?: number;
  /**
   * An app with a database (its deploy target names its migrations): `service`, a Postgres on the
   * host in its own compose project and volume, which releases never restart; `managed`, one the
   * app reaches at its DATABASE_URL secret (Conveyor runs no container for it, but still migrates
   * and backs it up).
   */
  database: DatabaseKind;
  /** The Postgres image of the service, and of the backups' pg_dump, pg_restore and checks. */
  database_image: string;
  /** Verified backups kept on the host (older ones are removed after each new one). */
  database_backups_keep: number;
  /** Run on the host with `sh -c` after each verified backup (CONVEYOR_BACKUP_FILE): copies it off the host. */
  database_backup_command?: string;
}

export type DatabaseKind = 'service' | 'managed';
export const DATABASE_KINDS: readonly DatabaseKind[] = ['service', 'managed'];

export type TlsMode = 'acme' | 'custom' | 'off';
export const LETS_ENCRYPT = 'https://acme-v02.api.letsencrypt.org/directory';
export const LETS_ENCRYPT_STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory';

export type Strategy = 'recreate' | 'blue-green' | 'canary';
export const STRATEGIES: readonly Strategy[] = ['recreate', 'blue-green', 'canary'];

const DEFAULTS: Partial<Record<ProfileKey, string>> = {
  connection: 'ssh',
  ssh_port: '22',
  compose_command: 'docker compose',
  // Profiles written before strategies existed keep deploying as they did.
  strategy: 'recreate',
  drain_seconds: '30',
  proxy_image: 'haproxy:2.8-alpine',
  rollout_batches: '100%',
  rollout_wait: '0',
  canary_steps: '10, 50, 100',
  canary_pause: '30',
  canary_max_error_ratio: '0.05',
  canary_max_p99: '1',
  canary_prometheus: '',
  canary_window: '60',
  secrets_command: '',
  domain: '',
  tls: '',
  acme_email: '',
  acme_ca: LETS_ENCRYPT,
  acme_ca_root: '',
  acme_renewal_window: '0.33',
  edge_path: '',
  edge_name: 'conveyor-edge',
  edge_image: 'caddy:2',
  edge_http_port: '80',
  edge_https_port: '443',
  preview_domain: '',
  preview_ttl: '7d',
  preview_ports: '30000-30999',
  database: 'service',
  database_image: 'postgres:17',
  database_backups_keep: '7',
  database_backup_command: '',
};

export class ProfileError extends Error {
  override name = 'ProfileError';
}

export type Env = Record<string, string | undefined>;

interface Missing {
  variable: string;
}

const REF = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?/g;

/**
 * Interpolates ${VAR} and ${VAR:-default} (default used when VAR is unset or empty);
 * `$$` is a literal `$`. Returns the missing variable instead of throwing, so the
 * caller can name the file and key.
 */
export function interpolate(
  value: string,
  env: Env,
): { value: string } | Missing | { invalid: string } {
  let missing: string | undefined;
  let invalid: string | undefined;
  const out = value.replace(
    REF,
    (match, variable: string | undefined, fallback: string | undefined) => {
      if (match === '$$') return '$';
      if (variable === undefined) {
        invalid ??= match;
        return match;
      }
      const current = env[variable];
      if (current !== undefined && current !== '') return current;
      if (fallback !== undefined) return fallback;
      missing ??= variable;
      return '';
    },
  );
  if (invalid !== undefined) return { invalid };
  if (missing !== undefined) return { variable: missing };
  return { value: out };
}

const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*\$?$/;
const HOST_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const IPV6 = /^[0-9A-Fa-f]*:[0-9A-Fa-f:.]*(%[A-Za-z0-9_.-]+)?$/;

/**
 * Why `value` cannot be an SSH login name, or undefined when it can. ssh reads a word starting
 * with "-" as an option (`-oProxyCommand=...`), and the name reaches its command line.
 */
export function sshUserError(value: string): string | undefined {
  if (value.startsWith('-'))
    return 'a user name cannot start with "-" (ssh would read it as an option).';
  if (value.length > 64 || !USER_NAME.test(value))
    return 'not a user name: use letters, digits, ".", "_" and "-" (at most 64, not starting with "-" or ".").';
  return undefined;
}

/** Why `value` cannot be an SSH host (a host name, IPv4 or IPv6 address), or undefined when it can. */
export function sshHostError(value: string): string | undefined {
  if (value.startsWith('-'))
    return 'a host name cannot start with "-" (ssh would read it as an option).';
  if (value.length > 253 || !(HOST_NAME.test(value) || IPV6.test(value)))
    return 'not a host name or IP address: use letters, digits, ".", "_" and "-" (not starting with "-" or "."), or an IPv6 address.';
  return undefined;
}

export interface ParseOptions {
  /** Keys whose variables must resolve; others that do not resolve are left empty. Default: all keys. */
  require?: readonly ProfileKey[];
}

export function parseProfile(
  name: string,
  file: string,
  text: string,
  env: Env,
  options: ParseOptions = {},
): Profile {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (error) {
    const detail = error instanceof YAMLParseError ? error.message.split('\n')[0] : String(error);
    throw new ProfileError(`${file}: not valid YAML: ${detail}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ProfileError(
      `${file}: expected a mapping of keys (${PROFILE_KEYS.join(', ')}), got ${Array.isArray(doc) ? 'a list' : typeof doc}.`,
    );
  }
  const raw = doc as Record<string, unknown>;
  const unknownKeys = Object.keys(raw).filter(
    (k) => !(PROFILE_KEYS as readonly string[]).includes(k),
  );
  if (unknownKeys.length > 0) {
    throw new ProfileError(
      `${file}: unknown key "${unknownKeys[0]}". Known keys: ${PROFILE_KEYS.join(', ')}.`,
    );
  }
  const required = new Set<ProfileKey>(options.require ?? PROFILE_KEYS);
  if (raw.connection === 'local') {
    // A local profile never opens an SSH connection.
    for (const key of ['ssh_host', 'ssh_user', 'ssh_port'] as const) required.delete(key);
  }
  const values = {} as Record<ProfileKey, string>;
  for (const key of PROFILE_KEYS) {
    const entry = raw[key];
    if (entry !== undefined && entry !== null && typeof entry === 'object') {
      throw new ProfileError(
        `${file}: key "${key}" must be a single value, not a ${Array.isArray(entry) ? 'list' : 'mapping'}.`,
      );
    }
    const text = entry === undefined || entry === null ? DEFAULTS[key] : String(entry);
    if (text === undefined) {
      if (required.has(key)) throw new ProfileError(`${file}: key "${key}" is missing.`);
      values[key] = '';
      continue;
    }
    const result = interpolate(text, env);
    if ('invalid' in result) {
      throw new ProfileError(
        `${file}: key "${key}" has a malformed reference ${result.invalid}; write \${VAR} or \${VAR:-default}.`,
      );
    }
    if ('variable' in result) {
      if (required.has(key)) {
        throw new ProfileError(
          `${file}: key "${key}" needs environment variable ${result.variable}, which is not set. ` +
            `Set it (see env.example) or give a default: \${${result.variable}:-value}.`,
        );
      }
      values[key] = '';
      continue;
    }
    values[key] = result.value;
  }
  const connection = values.connection || 'ssh';
  if (connection !== 'ssh' && connection !== 'local') {
    throw new ProfileError(
      `${file}: key "connection" must be "ssh" or "local", got "${connection}".`,
    );
  }
  let port: number;
  try {
    port = validatePort(values.ssh_port || '22', `${file}: key "ssh_port"`);
  } catch (error) {
    throw error instanceof PortError ? new ProfileError(error.message) : error;
  }
  for (const [key, check] of [
    ['ssh_user', sshUserError],
    ['ssh_host', sshHostError],
  ] as const) {
    const problem = values[key] === '' ? undefined : check(values[key]);
    if (problem) {
      const written = raw[key];
      const from =
        typeof written === 'string' && written !== values[key] ? ` (from ${written})` : '';
      throw new ProfileError(`${file}: key "${key}" is "${values[key]}"${from}: ${problem}`);
    }
  }
  const strategy = values.strategy as Strategy;
  if (!STRATEGIES.includes(strategy)) {
    throw new ProfileError(
      `${file}: key "strategy" must be ${STRATEGIES.map((s) => `"${s}"`).join(' or ')}, got "${values.strategy}".`,
    );
  }
  const drain = Number(values.drain_seconds);
  if (!Number.isFinite(drain) || drain < 0 || drain > 3600) {
    throw new ProfileError(
      `${file}: key "drain_seconds" must be a number of seconds (0-3600), got "${values.drain_seconds}".`,
    );
  }
  const wait = Number(values.rollout_wait);
  if (!Number.isFinite(wait) || wait < 0 || wait > 3600) {
    throw new ProfileError(
      `${file}: key "rollout_wait" must be a number of seconds (0-3600), got "${values.rollout_wait}".`,
    );
  }
  if (!/^\s*\d+%?(\s*,\s*\d+%?)*\s*$/.test(values.rollout_batches)) {
    throw new ProfileError(
      `${file}: key "rollout_batches" must list host counts or percentages, e.g. "1, 25%, 100%", got "${values.rollout_batches}".`,
    );
  }
  const number = (key: ProfileKey, max: number) => {
    const n = Number(values[key]);
    if (values[key].trim() === '' || !Number.isFinite(n) || n < 0 || n > max)
      throw new ProfileError(
        `${file}: key "${key}" must be a number from 0 to ${max}, got "${values[key]}".`,
      );
    return n;
  };
  const steps = values.canary_steps.split(',').map((x) => Number(x.trim()));
  if (
    steps.some((n) => !Number.isInteger(n) || n < 1 || n > 100) ||
    steps.some((n, i) => i > 0 && n <= steps[i - 1])
  )
    throw new ProfileError(
      `${file}: key "canary_steps" must list rising percentages from 1 to 100, e.g. "10, 50, 100", got "${values.canary_steps}".`,
    );
  if (steps[steps.length - 1] !== 100) steps.push(100);
  const prometheus = values.canary_prometheus.trim().replace(/\/+$/, '');
  if (prometheus && !/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(prometheus))
    throw new ProfileError(
      `${file}: key "canary_prometheus" must be the http(s) address of a Prometheus, e.g. "http://127.0.0.1:9090", got "${values.canary_prometheus}".`,
    );
  const window = number('canary_window', 3600);
  if (window < 1)
    throw new ProfileError(
      `${file}: key "canary_window" must be at least 1 second, got "${values.canary_window}".`,
    );
  const edge = edgeKeys(file, values);
  return {
    name,
    file,
    ...edge,
    registry: values.registry,
    registry_namespace: values.registry_namespace,
    connection,
    ssh_host: values.ssh_host,
    ssh_user: values.ssh_user,
    ssh_port: port,
    deploy_path: values.deploy_path,
    compose_command: values.compose_command,
    strategy,
    drain_seconds: drain,
    proxy_image: values.proxy_image,
    rollout_batches: values.rollout_batches,
    rollout_wait: wait,
    canary_steps: steps,
    canary_pause: number('canary_pause', 3600),
    canary_max_error_ratio: number('canary_max_error_ratio', 1),
    canary_max_p99: number('canary_max_p99', 600),
    ...(prometheus ? { canary_prometheus: prometheus } : {}),
    canary_window: window,
    ...(values.secrets_command ? { secrets_command: values.secrets_command } : {}),
    ...databaseKeys(file, values),
  };
}

/** The database keys, checked: a kind, an image, a count of backups from 1. */
function databaseKeys(file: string, values: Record<ProfileKey, string>) {
  const kind = values.database.trim() as DatabaseKind;
  if (!DATABASE_KINDS.includes(kind))
    throw new ProfileError(
      `${file}: key "database" must be ${DATABASE_KINDS.map((k) => `"${k}"`).join(' or ')}, got "${values.database}".`,
    );
  const keep = Number(values.database_backups_keep);
  if (!Number.isInteger(keep) || keep < 1 || keep > 1000)
    throw new ProfileError(
      `${file}: key "database_backups_keep" must be a whole number of backups from 1 to 1000, got "${values.database_backups_keep}".`,
    );
  const image = values.database_image.trim();
  if (!image || /\s/.test(image))
    throw new ProfileError(
      `${file}: key "database_image" must be an image reference such as postgres:17, got "${values.database_image}".`,
    );
  const command = values.database_backup_command.trim();
  return {
    database: kind,
    database_image: image,
    database_backups_keep: keep,
    ...(command ? { database_backup_command: command } : {}),
  };
}

const TLS_MODES: readonly TlsMode[] = ['acme', 'custom', 'off'];

/** Why `value` cannot be an app's domain, or undefined when it can. */
export function domainError(value: string): string | undefined {
  return /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/.test(value)
    ? undefined
    : 'must be a host name such as shop.example.com';
}

/** The edge's keys, checked: a domain is a host name, tls one of its modes, the ports ports. */
function edgeKeys(file: string, values: Record<ProfileKey, string>) {
  const domain = values.domain.trim().toLowerCase();
  const problem = domain ? domainError(domain) : undefined;
  if (problem) throw new ProfileError(`${file}: key "domain" ${problem}, got "${values.domain}".`);
  const tls = (values.tls.trim() || (domain ? 'acme' : 'off')) as TlsMode;
  if (!TLS_MODES.includes(tls))
    throw new ProfileError(
      `${file}: key "tls" must be ${TLS_MODES.map((m) => `"${m}"`).join(', ')}, got "${values.tls}".`,
    );
  if (tls !== 'off' && !domain)
    throw new ProfileError(`${file}: key "tls" is "${tls}" but no "domain" is set.`);
  const ca = values.acme_ca.trim();
  if (tls === 'acme' && !/^https:\/\/[^\s]+$/.test(ca))
    throw new ProfileError(
      `${file}: key "acme_ca" must be the https address of an ACME directory, got "${values.acme_ca}".`,
    );
  const port = (key: 'edge_http_port' | 'edge_https_port') => {
    try {
      return validatePort(values[key], `${file}: key "${key}"`);
    } catch (error) {
      throw error instanceof PortError ? new ProfileError(error.message) : error;
    }
  };
  return {
    ...(domain ? { domain } : {}),
    tls,
    ...(values.tls.trim() ? { tls_written: true } : {}),
    acme_email: values.acme_email.trim(),
    acme_ca: ca,
    ...(values.acme_ca_root.trim() ? { acme_ca_root: values.acme_ca_root.trim() } : {}),
    acme_renewal_window: renewalWindow(file, values.acme_renewal_window),
    edge_path: values.edge_path.trim() || `${values.deploy_path.replace(/\/+$/, '')}/conveyor-edge`,
    edge_name: edgeName(file, values.edge_name),
    edge_image: values.edge_image,
    edge_http_port: port('edge_http_port'),
    edge_https_port: port('edge_https_port'),
    ...previewKeys(file, values),
  };
}

/** What an edge's name (its compose project and container) may be. */
export const EDGE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

function edgeName(file: string, value: string): string {
  const name = value.trim();
  if (!EDGE_NAME.test(name))
    throw new ProfileError(
      `${file}: key "edge_name" must be a container name (lower-case letters, digits, "-" and "_"), got "${value}".`,
    );
  return name;
}

function renewalWindow(file: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1)
    throw new ProfileError(
      `${file}: key "acme_renewal_window" must be the share of a certificate's life left when it renews, above 0 and at most 1 (e.g. 0.33), got "${value}".`,
    );
  return n;
}

const TTL_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** The preview keys, checked: a domain, a lifetime such as 7d / 36h, a port range of two ports at least. */
function previewKeys(file: string, values: Record<ProfileKey, string>) {
  const domain = values.preview_domain.trim().toLowerCase();
  const problem = domain ? domainError(domain) : undefined;
  if (problem)
    throw new ProfileError(
      `${file}: key "preview_domain" ${problem}, got "${values.preview_domain}".`,
    );
  const ttl = /^\s*(\d+)\s*([smhd]?)\s*$/.exec(values.preview_ttl);
  if (!ttl || Number(ttl[1]) < 1)
    throw new ProfileError(
      `${file}: key "preview_ttl" must be a lifetime such as 7d, 36h or 90m, got "${values.preview_ttl}".`,
    );
  const range = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(values.preview_ports);
  let ports: { first: number; last: number } | undefined;
  try {
    if (range)
      ports = {
        first: validatePort(range[1], `${file}: key "preview_ports"`),
        last: validatePort(range[2], `${file}: key "preview_ports"`),
      };
  } catch (error) {
    throw error instanceof PortError ? new ProfileError(error.message) : error;
  }
  if (!ports || ports.last <= ports.first)
    throw new ProfileError(
      `${file}: key "preview_ports" must be a range of host ports such as 30000-30999, got "${values.preview_ports}".`,
    );
  return {
    ...(domain ? { preview_domain: domain } : {}),
    preview_ttl: Number(ttl[1]) * TTL_UNITS[ttl[2] || 'd'],
    preview_ports: ports,
  };
}

/** A preview's environment name (core/release/preview.ts). */
export function previewEnv(pr: number): string {
  return `pr-${pr}`;
}

/**
 * The environment a profile deploys as, which names its compose projects, its edge route's owner
 * and what the app reports as its profile: the profile's name, or a preview's (pr-<n>).
 */
export function environmentName(profile: Pick<Profile, 'name' | 'preview'>): string {
  return profile.preview === undefined ? profile.name : previewEnv(profile.preview);
}

/**
 * The prefix of an app's compose projects on a host: the host's own (hosts that share one engine
 * name theirs), else <app>-<environment>.
 */
export function projectPrefix(
  app: string,
  profile: Pick<Profile, 'name' | 'preview'>,
  own?: string,
): string {
  return own ?? `${app}-${environmentName(profile)}`;
}

export function profileFile(name: string): string {
  return `${PROFILES_DIR}/${name}.yml`;
}

export function listProfiles(workspaceRoot: string): string[] {
  const dir = join(workspaceRoot, PROFILES_DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yml'))
    .map((f) => f.slice(0, -'.yml'.length))
    .sort();
}

export function loadProfile(
  workspaceRoot: string,
  name: string,
  env: Env,
  options: ParseOptions = {},
): Profile {
  if (!/^[a-z0-9][a-z0-9_-]*$/i.test(name)) {
    throw new ProfileError(
      `Profile name "${name}" is not valid: use letters, digits, "-" and "_".`,
    );
  }
  const file = profileFile(name);
  const path = join(workspaceRoot, file);
  if (!existsSync(path)) {
    const existing = listProfiles(workspaceRoot);
    throw new ProfileError(
      existing.length > 0
        ? `Unknown profile "${name}": ${file} does not exist. Profiles: ${existing.join(', ')}.`
        : `Unknown profile "${name}": no profiles in ${PROFILES_DIR}/. Run: nx g @conveyor/plugin:init`,
    );
  }
  return parseProfile(name, file, readFileSync(path, 'utf8'), env, options);
}
