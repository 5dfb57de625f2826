import { failureMessage, fleetEndMessage } from './outcome';

const failed = {
  status: 'failed' as const,
  tag: 'bad1',
  previous_tag: 'good1',
  error: 'Status code was 500',
};

describe('failure messages', () => {
  it('says the old release is live again after an automatic rollback (recreate)', () => {
    expect(failureMessage('deploy', 'recreate', { ...failed, restored: true, live: 'good1' })).toBe(
      'deploy of bad1 failed (Status code was 500); rolled back automatically: good1 is live again.',
    );
  });
  it('says the old colour kept serving (blue-green)', () => {
    expect(
      failureMessage('deploy', 'blue-green', { ...failed, restored: true, live: 'good1' }),
    ).toMatch(/^deploy of bad1 failed \(Status code was 500\); good1 is live: it kept serving/);
  });
  it('says when there was nothing to go back to', () => {
    expect(failureMessage('deploy', 'recreate', { ...failed, previous_tag: '' })).toContain(
      'no previous release to roll back to',
    );
  });
  it('says when nothing healthy answers', () => {
    expect(failureMessage('rollback', 'recreate', { ...failed, live: '' })).toBe(
      "rollback of bad1 failed (Status code was 500) and good1 could not be brought back: nothing healthy answers. The failed containers' logs are above.",
    );
  });
  it('says nothing changed when the release stopped before anything started', () => {
    expect(
      failureMessage('deploy', 'blue-green', {
        tag: 'b',
        error: 'compose project x already runs from /y',
        phase: 'lock',
        live: 'a',
        previous_tag: 'a',
      }),
    ).toBe(
      'deploy of b failed (compose project x already runs from /y); nothing was changed on the host; a is live: it kept serving.',
    );
  });
});

describe('how a fleet ended after a failed release', () => {
  const status = 'nx run shop:status --configuration=staging';
  it('says every host is back only when every host reports the release it had', () => {
    expect(
      fleetEndMessage(
        [
          { host: 'a', had: 'v1', live: 'v1' },
          { host: 'b', had: 'v1', live: 'v1' },
        ],
        ['a: back on v1', 'b: back on v1'],
        status,
      ),
    ).toBe('Every host is back on the release it had: a: back on v1; b: back on v1.');
  });
  it('names the host that ended on another release, whatever the revert reported', () => {
    const text = fleetEndMessage(
      [
        { host: 'a', had: 'v1', live: 'v1' },
        { host: 'b', had: 'v1', live: 'v2' },
        { host: 'c', had: 'v1', live: undefined },
      ],
      ['a: back on v1'],
      status,
    );
    expect(text).not.toContain('Every host is back');
    expect(text).toBe(
      'Not every host is back on the release it had (b had v1, c had v1): a on v1, b on v2, c could not be read ' +
        '(more than one release live). a: back on v1. See nx run shop:status --configuration=staging, then deploy ' +
        'again to bring every host to one release.',
    );
  });
  it('a host that had nothing before is not counted as astray', () => {
    expect(
      fleetEndMessage([{ host: 'a', had: '', live: 'v2' }], ['a: nothing was live before'], status),
    ).toMatch(/^Every host is back/);
  });
});
