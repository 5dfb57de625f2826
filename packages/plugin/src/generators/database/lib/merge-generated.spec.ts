import { mergeGenerated } from './merge-generated';
import { withoutFormatting } from './update-files';

describe('mergeGenerated', () => {
  it('takes the new value where the user kept the generated one, or had none', () => {
    expect(mergeGenerated({ a: 1 }, { a: 1 }, { a: 2 })).toEqual({
      value: { a: 2 },
      conflict: false,
    });
    expect(mergeGenerated(undefined, undefined, { a: 2 })).toEqual({
      value: { a: 2 },
      conflict: false,
    });
  });

  it("merges objects key by key: the user's own keys stay, a key the generator dropped goes", () => {
    const base = { executor: 'x', options: { command: 'node main.js' }, cache: true };
    const next = { executor: 'x', options: { commands: ['a', 'b'] }, cache: true };
    const current = { ...base, inputs: ['default'] };
    expect(mergeGenerated(current, base, next)).toEqual({
      value: { executor: 'x', options: { commands: ['a', 'b'] }, cache: true, inputs: ['default'] },
      conflict: false,
    });
  });

  it('merges lists of strings as sets, never bringing back what the user removed', () => {
    expect(mergeGenerated(['API_KEY'], undefined, ['DATABASE_URL']).value).toEqual([
      'API_KEY',
      'DATABASE_URL',
    ]);
    expect(
      mergeGenerated(['build'], ['build', 'lint'], ['build', 'lint', 'migrate']).value,
    ).toEqual(['build', 'migrate']);
    expect(mergeGenerated(['a', 'b', 'mine'], ['a', 'b'], ['a']).value).toEqual(['a', 'mine']);
  });

  it('is a conflict where the user changed what the generator changes', () => {
    const base = { options: { command: 'node main.js' } };
    const next = { options: { command: 'node main.js', env: { X: '1' } } };
    // The user's command stays where the generator keeps its own; its new key is added.
    expect(mergeGenerated({ options: { command: 'node other.js' } }, base, next)).toEqual({
      value: { options: { command: 'node other.js', env: { X: '1' } } },
      conflict: false,
    });
    const edited = { options: { command: 'node main.js --inspect' } };
    const moved = { options: { command: 'node dist/main.js' } };
    expect(mergeGenerated(edited, base, moved)).toEqual({ value: edited, conflict: true });
    // A target the user removed is not put back.
    expect(mergeGenerated(undefined, base, moved)).toEqual({ value: undefined, conflict: true });
  });
});

describe('withoutFormatting', () => {
  it('sees through whitespace, quotes, semicolons and trailing commas, not through words', () => {
    expect(withoutFormatting("f('a', {\n  b: 1,\n});")).toBe(withoutFormatting('f("a", { b: 1 })'));
    expect(withoutFormatting('<h1>{APP_NAME}</h1>')).not.toBe(
      withoutFormatting('<h1 className="x">{APP_NAME}</h1>'),
    );
  });
});
