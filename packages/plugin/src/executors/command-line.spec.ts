import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { coerceTypesInOptions, validateOptsAgainstSchema } from 'nx/src/utils/params';

const plugin = join(__dirname, '..', '..');
const executors: Record<string, { implementation: string; schema: string }> = JSON.parse(
  readFileSync(join(plugin, 'executors.json'), 'utf8'),
).executors;

/** Options that name an image tag: a short git sha can be all digits (2980737, 6494667). */
const TAG_OPTIONS = ['tag', 'to'];

const taking = Object.entries(executors).flatMap(([name, e]) => {
  const schema = JSON.parse(readFileSync(join(plugin, e.schema), 'utf8'));
  return TAG_OPTIONS.filter((o) => o in schema.properties).map(
    (option) => [name, option, schema, e.implementation] as const,
  );
});

describe('tags typed on the command line', () => {
  it('are taken by build-push, deploy, rollback and preview', () => {
    expect(taking.map(([name, option]) => `${name} --${option}`).sort()).toEqual([
      'build-push --tag',
      'deploy --tag',
      'preview --tag',
      'rollback --to',
    ]);
  });

  // Nx's parser gives `--tag=6494667` to the executor as the number 6494667, then checks it
  // against the schema: a schema that allows only strings refuses the command.
  it.each(taking)('%s --%s: a digits-only tag passes Nx’s schema check', (_, option, schema) => {
    const alone = { ...schema, required: [] }; // the target's other options come from project.json
    const opts = coerceTypesInOptions({ [option]: 6494667 }, alone);
    expect(() => validateOptsAgainstSchema(opts, alone)).not.toThrow();
  });

  // The number has lost what the user typed (0123456 became 123456), so the executor reads the
  // raw argument from Nx's task graph through typedOption.
  it.each(taking)('%s --%s: the executor reads the typed text', (_, option, __, impl) => {
    const source = readFileSync(join(plugin, `${impl}.ts`), 'utf8');
    expect(source).toMatch(new RegExp(`typedOption\\(context, '${option}',`));
  });
});
