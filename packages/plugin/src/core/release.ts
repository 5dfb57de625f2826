/**
 * Records of releases: what build-push pushed (read by deploy), and the release
 * history a deploy keeps on the host (<deploy_path>/<app>/.conveyor/releases.log).
 */
import type { Component } from './names';
import { RELEASE_RECORD_DIR } from './names';

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
  git_sha: string;
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

export interface ReleaseEntry {
  at: string;
  action: string;
  tag: string;
  who: string;
  result: string;
}

/** Parses releases.log: `time<TAB>action<TAB>tag<TAB>who<TAB>result` per line; other lines are skipped. */
export function parseReleaseLog(text: string): ReleaseEntry[] {
  const out: ReleaseEntry[] = [];
  for (const line of text.split('\n')) {
    const parts = line.split('\t');
    if (parts.length !== 5 || !parts[0]) continue;
    const [at, action, tag, who, result] = parts;
    out.push({ at, action, tag, who, result });
  }
  return out;
}

export function formatReleaseEntry(e: ReleaseEntry): string {
  return [e.at, e.action, e.tag, e.who, e.result].join('\t');
}

/** The release to go back to: the newest successful release whose tag differs from the live one. */
export function previousRelease(entries: ReleaseEntry[], live: string): string | undefined {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    if (e.result === 'ok' && e.tag !== live) return e.tag;
  }
  return undefined;
}
