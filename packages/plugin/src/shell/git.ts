import { run } from './run';

/** Short sha of HEAD, or undefined outside a git repository / before the first commit. */
export async function gitShortSha(cwd: string): Promise<string | undefined> {
  const r = await run({ argv: ['git', 'rev-parse', '--short', 'HEAD'] }, { cwd, stream: false });
  return r.code === 0 ? r.stdout.trim() || undefined : undefined;
}

export async function gitRemoteUrl(cwd: string): Promise<string | undefined> {
  const r = await run(
    { argv: ['git', 'config', '--get', 'remote.origin.url'] },
    { cwd, stream: false },
  );
  return r.code === 0 ? r.stdout.trim() || undefined : undefined;
}
