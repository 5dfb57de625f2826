import { formatHistoryEntry, parseHistory, parsePushRecord } from './release';

describe('release history (history.jsonl)', () => {
  it('parses JSON lines and skips a line cut by a crash', () => {
    const text = '{"at":"t1","action":"deploy","result":"ok","tag":"a"}\n{"at":"t2","act\n';
    expect(parseHistory(text)).toEqual([{ at: 't1', action: 'deploy', result: 'ok', tag: 'a' }]);
  });
  it('prints one line per entry, with why it failed', () => {
    expect(
      formatHistoryEntry({
        at: 't',
        action: 'deploy',
        result: 'failed',
        tag: 'b',
        from: 'a',
        who: 'anna',
        error: 'gate',
      }),
    ).toMatch(/^t {2}deploy +a → b +failed +anna\n {4}gate$/);
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
