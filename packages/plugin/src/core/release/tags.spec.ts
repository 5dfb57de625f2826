import {
  checkRecordTag,
  chooseDeployTag,
  cliText,
  contentTag,
  resolveGitSha,
  resolveTag,
  TagError,
} from './tags';

describe('resolveTag', () => {
  it('prefers --tag, then IMAGE_TAG, then the git sha', () => {
    expect(resolveTag({ option: 'v1', envImageTag: 'v2', gitSha: 'abc1234' })).toBe('v1');
    expect(resolveTag({ envImageTag: 'v2', gitSha: 'abc1234' })).toBe('v2');
    expect(resolveTag({ gitSha: 'abc1234' })).toBe('abc1234');
  });
  it('explains what to do without git and without IMAGE_TAG', () => {
    expect(() => resolveTag({})).toThrow(/not a git repository.*IMAGE_TAG is not set/);
  });
  it('rejects tags a registry would refuse, naming where they came from', () => {
    expect(() => resolveTag({ envImageTag: 'bad tag' })).toThrow(
      'IMAGE_TAG "bad tag" is not a valid image tag',
    );
    expect(() => resolveTag({ option: '-x' })).toThrow(TagError);
    expect(() => resolveTag({ option: 'a'.repeat(129) })).toThrow(TagError);
  });
  it('takes GIT_SHA over HEAD', () => {
    expect(resolveGitSha('feed123', 'abc1234')).toBe('feed123');
    expect(resolveGitSha('', 'abc1234')).toBe('abc1234');
    expect(resolveGitSha(undefined, undefined)).toBeUndefined();
  });
  it('names content by a fixed-length prefix of the hash', () => {
    expect(contentTag('0123456789abcdef'.repeat(4))).toBe(
      'content-0123456789abcdef0123456789abcdef',
    );
  });
});

describe('cliText', () => {
  it('takes the raw argument Nx kept, not the number its parser made of a digits-only sha', () => {
    expect(cliText('tag', 2980737, ['--tag=2980737'])).toBe('2980737');
    expect(cliText('tag', Infinity, ['--tag=12e4567'])).toBe('12e4567');
    expect(cliText('to', 980737, ['--configuration=staging', '--to', '0980737'])).toBe('0980737');
  });
  it('uses the last occurrence, as the parser does, and only the option asked for', () => {
    expect(cliText('tag', 'b', ['--tag=a', '--tag=b'])).toBe('b');
    expect(cliText('tag', 'x', ['--tagged=1', '--to=2'])).toBe('x');
  });
  it('falls back to the value as given (project.json options, no command line)', () => {
    expect(cliText('tag', 'abc1234', undefined)).toBe('abc1234');
    expect(cliText('tag', 1234567, [])).toBe('1234567');
    expect(cliText('tag', undefined, ['--configuration=staging'])).toBeUndefined();
  });
});

describe('checkRecordTag', () => {
  const file = 'dist/conveyor/shop/staging.json';
  it('passes a tag --tag would accept', () => {
    expect(checkRecordTag('abc1234', file)).toBe('abc1234');
  });
  it('refuses what --tag refuses, naming the file', () => {
    expect(() => checkRecordTag('-x', file)).toThrow(
      new TagError(
        `${file}: tag "-x" is not a valid image tag: use letters, digits, "_", "." and "-" (at most 128, not starting with "." or "-"). Run build-push again.`,
      ),
    );
    expect(() => checkRecordTag('a b;rm -rf /', file)).toThrow(TagError);
    expect(() => checkRecordTag(1234567, file)).toThrow(
      `${file}: "tag" must be text, got 1234567. Run build-push again.`,
    );
    expect(() => checkRecordTag(undefined, file)).toThrow(
      `${file}: "tag" must be text, got nothing.`,
    );
  });
});

describe('chooseDeployTag', () => {
  const head = '3f2a9c1d0e4b5a6978877665544332211000ffee';
  const older = '9c1b2d3e4f5061728394a5b6c7d8e9f001122334';
  const recordFile = 'dist/conveyor/shop/staging.json';
  const record = { tag: '3f2a9c1', git_sha: '3f2a9c1', commit: head };

  it('takes --tag first, whatever the record says', () => {
    expect(
      chooseDeployTag({ optionTag: 'v1', record: { ...record, commit: older }, headSha: head }),
    ).toEqual({ tag: 'v1', from: '--tag' });
    expect(() => chooseDeployTag({ optionTag: '-v1' })).toThrow('--tag "-v1" is not a valid');
  });

  it('takes the record when it was built from HEAD', () => {
    expect(chooseDeployTag({ record, recordFile, headSha: head, envImageTag: 'x' })).toEqual({
      tag: '3f2a9c1',
      from: 'build-push record',
    });
  });

  it('refuses a record of another commit than HEAD, and says how to go on', () => {
    expect(() =>
      chooseDeployTag({ record: { ...record, commit: older }, recordFile, headSha: head }),
    ).toThrow(
      new TagError(
        `The recorded release 3f2a9c1 (${recordFile}) is of commit ${older.slice(0, 7)}, but HEAD is ${head.slice(0, 7)}; ` +
          'run build-push for HEAD, or pass --tag=3f2a9c1 to deploy it anyway.',
      ),
    );
  });

  it('compares a record without the full commit by its short sha', () => {
    const old = { tag: 'v7', git_sha: '3f2a9c1' };
    expect(chooseDeployTag({ record: old, headSha: head }).tag).toBe('v7');
    expect(() =>
      chooseDeployTag({ record: { tag: 'v7', git_sha: '9c1b2d3' }, headSha: head }),
    ).toThrow('is of commit 9c1b2d3, but HEAD is');
  });

  it('takes the record when there is nothing to compare (no git, or GIT_SHA was not a sha)', () => {
    expect(chooseDeployTag({ record }).tag).toBe('3f2a9c1');
    expect(chooseDeployTag({ record: { tag: 'v7', git_sha: 'release-7' }, headSha: head })).toEqual(
      { tag: 'v7', from: 'build-push record' },
    );
  });

  it('checks the recorded tag as --tag is checked', () => {
    expect(() =>
      chooseDeployTag({ record: { ...record, tag: '../x' }, recordFile, headSha: head }),
    ).toThrow(`${recordFile}: tag "../x" is not a valid image tag`);
  });

  it('without a record: IMAGE_TAG, else the sha of HEAD', () => {
    expect(chooseDeployTag({ envImageTag: 'v2', gitSha: '3f2a9c1', headSha: head })).toEqual({
      tag: 'v2',
      from: 'IMAGE_TAG',
    });
    expect(chooseDeployTag({ gitSha: '3f2a9c1', headSha: head })).toEqual({
      tag: '3f2a9c1',
      from: 'git sha',
    });
    expect(() => chooseDeployTag({})).toThrow('No image tag');
  });
});
