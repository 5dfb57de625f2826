import { contentHash, decide, lineDiff, ownedHeader } from './owned';

describe('owned files', () => {
  const h = contentHash;
  it('rewrites an untouched file, puts the new version beside an edited one', () => {
    expect(decide('a', h('old'), 'old', 'new')).toEqual({ path: 'a', action: 'write' });
    expect(decide('a', h('old'), 'mine', 'new')).toEqual({
      path: 'a',
      action: 'beside',
      besidePath: 'a.conveyor-new',
    });
    expect(decide('a', h('old'), 'new', 'new')).toEqual({ path: 'a', action: 'unchanged' });
    expect(decide('a', h('old'), undefined, 'new')).toEqual({ path: 'a', action: 'create' });
  });
  it('deletes a file no longer generated unless it was edited', () => {
    expect(decide('a', h('old'), 'old', undefined).action).toBe('delete');
    expect(decide('a', h('old'), 'mine', undefined).action).toBe('keep-edited');
    expect(decide('a', h('old'), undefined, undefined).action).toBe('unchanged');
  });
  it('diffs lines', () => {
    expect(lineDiff('a\nb\nc', 'a\nB\nc', 'f')).toBe(
      ['--- f (yours)', '+++ f.conveyor-new (this version)', ' a', '-b', '+B', ' c'].join('\n'),
    );
  });
  it('writes the header in the comment syntax of the file', () => {
    expect(ownedHeader('infra/ansible/playbook.yml')).toMatch(/^# Owned by @conveyor\/plugin/);
    expect(ownedHeader('DEPLOY_STAGING.md')).toMatch(/^<!-- Owned by @conveyor\/plugin.* -->\n$/);
  });
});
