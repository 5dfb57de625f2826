import { cliText, contentTag, resolveGitSha, resolveTag, TagError } from './tags';

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
