/**
 * Records of releases: what build-push pushed (read by deploy), and the release
 * history a deploy keeps on the host (<deploy_path>/<app>/.conveyor/releases.log).
 */
import { edgeUrl } from '../edge/edge';
import type { Component } from '../config/names';
import { RELEASE_RECORD_DIR } from '../config/names';
import { formatAge } from './preview';

export interface PushedImage {
  ref: string;
  digest: string;
  contentHash: string;
  /** true when the registry already had these inputs and only a tag was added. */
  reused: boolean;
}

export interface PushRecord {
  app: string;
  profile: string;
  tag: string;
  /** Short sha (or GIT_SHA) of the commit built. */
  git_sha: string;
  /** Full sha of that commit (records written before it existed lack it). */
  commit?: string;
  registry: string;
  namespace: string;
  pushed: boolean;
  images: Partial<Record<Component, PushedImage>>;
  at: string;
}

export function pushRecordPath(app: string, profile: string): string {
  return `${RELEASE_RECORD_DIR}/${app}/${profile}.json`;
}

export function parsePushRecord(text: string, file: string): PushRecord {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON; run build-push again.`);
  }
  const r = data as PushRecord;
  if (!r || typeof r.tag !== 'string' || typeof r.images !== 'object') {
    throw new Error(`${file} is not a build-push record; run build-push again.`);
  }
  return r;
}

/** What the host helper keeps of a release (<app>/.conveyor/releases/<tag>.json). */
export interface HostRelease {
  tag: string;
  git_sha?: string;
  images?: Partial<Record<Component, { repository: string; digest: string }>>;
  color?: string | null;
}

/** One line of <app>/.conveyor/history.jsonl. */
export interface HistoryEntry {
  at: string;
  action: string;
  result: string;
  tag?: string;
  from?: string;
  who?: string;
  color?: string | null;
  phase?: string;
  error?: string;
  reason?: string;
  fast?: boolean;
}

/** What `conveyor-host.pyz status` prints. */
export interface HostStatus {
  app_path: string;
  env?: string | null;
  strategy?: string | null;
  current?: HostRelease | null;
  previous?: HostRelease | null;
  proxy_routes?: string | null;
  lock?: { text: string; alive: boolean | null; pid?: number } | null;
  agree: boolean;
  problems: string[];
  history: HistoryEntry[];
  releases?: Record<string, HostRelease>;
  /** The app's name on the host's edge, and the certificate the edge presents for it. */
  edge?: {
    domain: string;
    https_port: number;
    maintenance?: boolean;
    certificate?: { issuer: string; not_after: string } | null;
  } | null;
  /** The app's database: its kind and the verified backups kept on the host, newest first. */
  database?: {
    kind: string;
    backups: HostBackup[];
    /** Set when the newest verified backup is older than a day, or none is kept. */
    warning: string;
  } | null;
}

export interface HostBackup {
  name: string;
  size: number;
  age_seconds: number;
  reason: string;
  tag: string;
  verified: boolean;
  copied?: boolean | null;
}

/** The database's lines of the status: each kept backup with size and age, and the day warning. */
export function formatDatabase(d: NonNullable<HostStatus['database']>): string[] {
  const lines = [`  database: ${d.kind}, ${d.backups.length} backup(s) kept`];
  for (const b of d.backups)
    lines.push(
      `    ${b.name}  ${(b.size / 1024).toFixed(1)} KiB  ${formatAge(b.age_seconds)} ago  ${b.verified ? 'verified' : 'NOT VERIFIED'}${b.copied === false ? '  (copy off the host FAILED)' : ''}`,
    );
  if (d.warning) lines.push(`  WARNING:  ${d.warning}`);
  return lines;
}

export function parseHistory(text: string): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim().startsWith('{')) continue;
    try {
      const e = JSON.parse(line) as HistoryEntry;
      if (e && typeof e.at === 'string' && typeof e.action === 'string') out.push(e);
    } catch {
      /* a line cut by a crash: skipped */
    }
  }
  return out;
}

/** One readable line per entry: time, action, tag, result, who, and why when it failed. */
export function formatHistoryEntry(e: HistoryEntry): string {
  const tag = e.tag ? (e.from ? `${e.from} → ${e.tag}` : e.tag) : '';
  const colour = e.color ? ` (${e.color}${e.fast ? ', fast' : ''})` : '';
  const why = e.error ?? e.reason;
  return [e.at, e.action.padEnd(10), `${tag}${colour}`.padEnd(28), e.result.padEnd(7), e.who ?? '']
    .join('  ')
    .trimEnd()
    .concat(why ? `\n    ${why}` : '');
}

/** The status as lines for a person: live release, what the proxy routes, the lock, last events. */
export function formatStatus(where: string, s: HostStatus): string[] {
  const lines = [`${where}`];
  const cur = s.current;
  lines.push(
    `  live:     ${cur?.tag ? `${cur.tag}${cur.git_sha ? ` (commit ${cur.git_sha})` : ''}${cur.color ? `, colour ${cur.color}` : ''}` : 'nothing deployed'}`,
  );
  if (s.previous?.tag) lines.push(`  previous: ${s.previous.tag}`);
  if (s.edge) {
    const url = edgeUrl(s.edge);
    const cert = s.edge.certificate;
    lines.push(
      `  domain:   ${url}${s.edge.maintenance ? ' (MAINTENANCE: the edge answers 503)' : ''}`,
    );
    lines.push(
      `  certificate: ${cert ? `issued by ${cert.issuer}, expires ${cert.not_after}` : 'none presented (not obtained yet?)'}`,
    );
  }
  if (s.database) lines.push(...formatDatabase(s.database));
  if (s.strategy === 'blue-green' || s.proxy_routes)
    lines.push(`  proxy:    routes to ${s.proxy_routes ?? 'nothing (not answering)'}`);
  lines.push(
    `  lock:     ${s.lock ? `${s.lock.text}${s.lock.alive === false ? ' (holder is dead: the next deploy breaks it)' : ''}` : 'free'}`,
  );
  for (const p of s.problems) lines.push(`  PROBLEM:  ${p}`);
  if (s.history.length) {
    lines.push('  last events:');
    for (const e of s.history) lines.push(`    ${formatHistoryEntry(e).replace(/\n/g, '\n    ')}`);
  }
  return lines;
}
