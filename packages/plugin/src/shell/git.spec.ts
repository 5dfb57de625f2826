import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gitHeadSha, gitRemoteUrl, gitShortSha } from './git';

describe('git (a real repository)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-git-'));
  const git = (...args: string[]) =>
    execFileSync('git', args, {
      cwd: dir,
      encoding: 'utf8',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 't',
        GIT_AUTHOR_EMAIL: 't@example.com',
        GIT_COMMITTER_NAME: 't',
        GIT_COMMITTER_EMAIL: 't@example.com',
      },
    }).trim();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('knows no commit before the first one', async () => {
    git('init', '-q');
    expect(await gitHeadSha(dir)).toBeUndefined();
    expect(await gitShortSha(dir)).toBeUndefined();
  });

  it('reads the full and the short sha of HEAD', async () => {
    writeFileSync(join(dir, 'a'), 'a');
    git('add', 'a');
    git('commit', '-q', '-m', 'a');
    const full = git('rev-parse', 'HEAD');
    expect(await gitHeadSha(dir)).toBe(full);
    expect(full).toMatch(/^[0-9a-f]{40}$/);
    expect(full.startsWith((await gitShortSha(dir)) ?? '-')).toBe(true);
  });

  it('never returns the credentials of a remote cloned with a token', async () => {
    git(
      'remote',
      'add',
      'origin',
      'https://ci:ghp_SECRET42@git.example.com/acme/shop.git?x=SECRET42',
    );
    expect(await gitRemoteUrl(dir)).toBe('https://git.example.com/acme/shop.git');
  });
});
