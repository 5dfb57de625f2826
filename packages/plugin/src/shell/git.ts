import { publicRemoteUrl } from '../core/config/redact';
import { run } from './run';

async function git(cwd: string, args: string[]): Promise<string | undefined> {
  const r = await run({ argv: ['git', ...args] }, { cwd, stream: false });
  return r.code === 0 ? r.stdout.trim() || undefined : undefined;
}

/** Short sha of HEAD, or undefined outside a git repository / before the first commit. */
export function gitShortSha(cwd: string): Promise<string | undefined> {
  return git(cwd, ['rev-parse', '--short', 'HEAD']);
}

/** Full sha of HEAD (the commit a release is built from), or undefined as gitShortSha. */
export function gitHeadSha(cwd: string): Promise<string | undefined> {
  return git(cwd, ['rev-parse', '--verify', '--quiet', 'HEAD']);
}

/** The origin remote as it may be shown: no credentials, query or fragment (see publicRemoteUrl). */
export async function gitRemoteUrl(cwd: string): Promise<string | undefined> {
  const url = await git(cwd, ['config', '--get', 'remote.origin.url']);
  return url === undefined ? undefined : publicRemoteUrl(url) || undefined;
}

/** The short sha of a commit named `rev` (a tag that is a commit's sha), or undefined. */
export function gitCommitShortSha(cwd: string, rev: string): Promise<string | undefined> {
  if (!/^[0-9a-f]{4,40}$/.test(rev)) return Promise.resolve(undefined);
  return git(cwd, ['rev-parse', '--short', '--verify', '--quiet', `${rev}^{commit}`]);
}
