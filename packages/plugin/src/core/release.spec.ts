import { formatReleaseEntry, parsePushRecord, parseReleaseLog, previousRelease } from './release';

describe('release history', () => {
  const log = [
    '2026-11-26T10:00:00Z\tdeploy\taaa1111\tci\tok',
    '2026-11-26T11:00:00Z\tdeploy\tbbb2222\tci\tok',
    'garbage line',
    '2026-11-26T12:00:00Z\trollback\taaa1111\tanna\tok',
    '',
  ].join('\n');
  it('parses tab-separated lines and skips others', () => {
    const entries = parseReleaseLog(log);
    expect(entries).toHaveLength(3);
    expect(entries[2]).toEqual({
      at: '2026-11-26T12:00:00Z',
      action: 'rollback',
      tag: 'aaa1111',
      who: 'anna',
      result: 'ok',
    });
  });
  it('round-trips an entry', () => {
    const e = { at: 't', action: 'deploy', tag: 'x', who: 'y', result: 'ok' };
    expect(parseReleaseLog(formatReleaseEntry(e))).toEqual([e]);
  });
  it('finds the newest successful release other than the live one', () => {
    expect(previousRelease(parseReleaseLog(log), 'aaa1111')).toBe('bbb2222');
    expect(previousRelease(parseReleaseLog(log.split('\n')[0]), 'aaa1111')).toBeUndefined();
  });
});

describe('push record', () => {
  it('rejects files that are not records, naming the file', () => {
    expect(() => parsePushRecord('{', 'dist/conveyor/shop/staging.json')).toThrow(
      'dist/conveyor/shop/staging.json is not valid JSON',
    );
    expect(() => parsePushRecord('{"a":1}', 'f.json')).toThrow('f.json is not a build-push record');
    expect(parsePushRecord('{"tag":"abc","images":{}}', 'f').tag).toBe('abc');
  });
});
