import { breakingChanges, breakingMessage, upSection } from './migration-safety';

const FILE = 'migrations/1700000000001_change-notes.sql';
const changes = async (sql: string) =>
  (await breakingChanges(FILE, sql)).map((b) => [b.statement, b.change]);

describe('migrations that would break the live release', () => {
  it.each([
    ['ALTER TABLE notes DROP COLUMN body;', 'drops column notes.body'],
    ['alter table "Notes" drop "Body"', 'drops column Notes.Body'],
    ['DROP TABLE IF EXISTS notes, public.tags;', 'drops table notes'],
    [
      'ALTER TABLE public.notes RENAME COLUMN body TO text;',
      'renames column public.notes.body to text',
    ],
    ['ALTER TABLE notes RENAME TO memos;', 'renames table notes to memos'],
    ['ALTER TABLE notes ALTER COLUMN id TYPE bigint;', 'changes the type of column notes.id'],
    ['ALTER TABLE notes ALTER COLUMN body SET NOT NULL;', 'makes column notes.body NOT NULL'],
    [
      'ALTER TABLE notes ADD COLUMN author text NOT NULL;',
      'adds column notes.author NOT NULL without a default',
    ],
    [
      'ALTER TABLE notes ADD COLUMN ref int PRIMARY KEY;',
      'adds column notes.ref NOT NULL without a default',
    ],
  ])('finds %s', async (sql, change) => {
    const found = await changes(sql);
    expect(found[0]).toEqual([sql.replace(/;$/, ''), change]);
  });

  it.each([
    'CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);',
    'ALTER TABLE notes ADD COLUMN author text;',
    "ALTER TABLE notes ADD COLUMN author text NOT NULL DEFAULT 'anonymous';",
    'ALTER TABLE notes ADD COLUMN n int GENERATED ALWAYS AS IDENTITY;',
    'CREATE INDEX CONCURRENTLY notes_body ON notes (body);',
    "INSERT INTO notes (body) VALUES ('DROP TABLE notes');",
    '-- ALTER TABLE notes DROP COLUMN body;\nSELECT 1;',
    'DROP INDEX notes_body;',
    'ALTER TABLE notes ALTER COLUMN body DROP NOT NULL;',
  ])('lets %j run', async (sql) => {
    expect(await changes(sql)).toEqual([]);
  });

  it('reads every statement and every command of an ALTER, each with its own text', async () => {
    const sql = [
      'CREATE TABLE tags (id serial PRIMARY KEY);',
      '-- the old name goes',
      'ALTER TABLE notes DROP COLUMN title, ADD COLUMN body2 text, ALTER COLUMN body TYPE varchar(200);',
      'DROP TABLE drafts;',
    ].join('\n');
    expect(await changes(sql)).toEqual([
      [
        'ALTER TABLE notes DROP COLUMN title, ADD COLUMN body2 text, ALTER COLUMN body TYPE varchar(200)',
        'drops column notes.title',
      ],
      [
        'ALTER TABLE notes DROP COLUMN title, ADD COLUMN body2 text, ALTER COLUMN body TYPE varchar(200)',
        'changes the type of column notes.body',
      ],
      ['DROP TABLE drafts', 'drops table drafts'],
    ]);
  });

  it("checks node-pg-migrate's up part only: the down part undoes, it never runs in a release", async () => {
    const sql = [
      '-- Up Migration',
      'ALTER TABLE notes ADD COLUMN author text;',
      '-- Down Migration',
      'ALTER TABLE notes DROP COLUMN author;',
    ].join('\n');
    expect(upSection(sql).trim()).toBe('ALTER TABLE notes ADD COLUMN author text;');
    expect(await changes(sql)).toEqual([]);
    expect(await changes(sql.replace('ADD COLUMN author text', 'DROP COLUMN body'))).toEqual([
      ['ALTER TABLE notes DROP COLUMN body', 'drops column notes.body'],
    ]);
  });

  it('refuses what Postgres cannot parse, naming the file and the error', async () => {
    await expect(breakingChanges(FILE, 'ALTER TABLE notes DRP COLUMN body;')).rejects.toThrow(
      `${FILE}: Postgres cannot parse it: syntax error at or near "DRP"`,
    );
  });

  it('names each statement, what it does, the safe way and the way on', async () => {
    const message = breakingMessage(
      await breakingChanges(FILE, 'ALTER TABLE notes DROP COLUMN body;'),
    );
    expect(message).toContain('A pending migration would break the live release');
    expect(message).toContain(
      `${FILE}: \`ALTER TABLE notes DROP COLUMN body\` drops column notes.body. Safe way: stop using it in one release`,
    );
    expect(message).toContain('--allowBreakingMigration (the history records it)');
  });
});
