/**
 * Migrations that would break the live release. During a zero-downtime release the old colour
 * keeps serving against the new schema, and a fast rollback goes back to it afterwards: a
 * migration that drops or renames a column or table, changes a column's type, or makes a column
 * NOT NULL (or adds one without a default) breaks that old code. Such a statement is found
 * before anything runs, named, and given its safe two-step way (expand now, contract in a later
 * release). Statements are read by Postgres's own parser (libpg_query, compiled to WebAssembly),
 * not by a regular expression: quoting, comments and multi-command ALTERs are Postgres's.
 * Pure: no processes, no files.
 */
import { parse } from 'libpg-query';

export interface BreakingChange {
  /** The migration file, as messages name it. */
  migration: string;
  /** The statement as written (comments before it left out). */
  statement: string;
  /** What it does to the schema, e.g. `drops column notes.body`. */
  change: string;
  /** The safe way in two releases. */
  safeWay: string;
}

const SAFE = {
  drop: 'stop using it in one release (the live release and a fast rollback still do); drop it in a later release',
  rename:
    'add the new name beside the old one in one release (a new column both releases write, or a view); remove the old name in a later release',
  type: 'add a column of the new type in one release and write both; switch reads to it and drop the old column in a later release',
  notNull:
    'add the column nullable or with a DEFAULT in one release and write it everywhere; add NOT NULL in a later release',
} as const;

/**
 * The part of a migration that runs on the way up: node-pg-migrate's SQL files put it between
 * `-- Up Migration` and `-- Down Migration`; a file without those markers runs whole.
 */
export function upSection(sql: string): string {
  const up = /^--\s*Up Migration\b.*$/im.exec(sql);
  const start = up ? up.index + up[0].length : 0;
  const rest = sql.slice(start);
  const down = /^--\s*Down Migration\b.*$/im.exec(rest);
  return down ? rest.slice(0, down.index) : rest;
}

type Node = Record<string, unknown>;
const obj = (v: unknown): Node => (v && typeof v === 'object' ? (v as Node) : {});
const list = (v: unknown): Node[] => (Array.isArray(v) ? (v as Node[]) : []);

function relationName(relation: unknown): string {
  const r = obj(relation);
  return [r['schemaname'], r['relname']].filter((x) => typeof x === 'string').join('.');
}

/** `a.b` from a DropStmt's object: a List of String nodes. */
function dottedName(o: unknown): string {
  return list(obj(obj(o)['List'])['items'])
    .map((i) => String(obj(i['String'])['sval'] ?? ''))
    .join('.');
}

/** What a statement does that breaks the old release, with the safe way; none: it is safe. */
function changesOf(stmt: Node): { change: string; safeWay: string }[] {
  const found: { change: string; safeWay: string }[] = [];
  const drop = obj(stmt['DropStmt']);
  if (drop['removeType'] === 'OBJECT_TABLE')
    for (const o of list(drop['objects']))
      found.push({ change: `drops table ${dottedName(o)}`, safeWay: SAFE.drop });
  const rename = obj(stmt['RenameStmt']);
  const renamed = relationName(rename['relation']);
  if (rename['renameType'] === 'OBJECT_COLUMN')
    found.push({
      change: `renames column ${renamed}.${String(rename['subname'])} to ${String(rename['newname'])}`,
      safeWay: SAFE.rename,
    });
  if (rename['renameType'] === 'OBJECT_TABLE')
    found.push({
      change: `renames table ${renamed} to ${String(rename['newname'])}`,
      safeWay: SAFE.rename,
    });
  const alter = obj(stmt['AlterTableStmt']);
  if (alter['objtype'] === 'OBJECT_TABLE') {
    const table = relationName(alter['relation']);
    for (const c of list(alter['cmds'])) {
      const cmd = obj(c['AlterTableCmd']);
      const column = `${table}.${String(cmd['name'])}`;
      switch (cmd['subtype']) {
        case 'AT_DropColumn':
          found.push({ change: `drops column ${column}`, safeWay: SAFE.drop });
          break;
        case 'AT_AlterColumnType':
          found.push({ change: `changes the type of column ${column}`, safeWay: SAFE.type });
          break;
        case 'AT_SetNotNull':
          found.push({ change: `makes column ${column} NOT NULL`, safeWay: SAFE.notNull });
          break;
        case 'AT_AddColumn': {
          const def = obj(obj(cmd['def'])['ColumnDef']);
          const kinds = list(def['constraints']).map((k) => obj(k['Constraint'])['contype']);
          const required = kinds.includes('CONSTR_NOTNULL') || kinds.includes('CONSTR_PRIMARY');
          const filled = ['CONSTR_DEFAULT', 'CONSTR_IDENTITY', 'CONSTR_GENERATED'].some((k) =>
            kinds.includes(k),
          );
          if (required && !filled)
            found.push({
              change: `adds column ${table}.${String(def['colname'])} NOT NULL without a default`,
              safeWay: SAFE.notNull,
            });
          break;
        }
      }
    }
  }
  return found;
}

/** A statement's own text: the parser's location and length, comments before it left out. */
function statementText(sql: string, raw: Node): string {
  const start = Number(raw['stmt_location'] ?? 0);
  const len = Number(raw['stmt_len'] ?? 0);
  const text = len > 0 ? sql.slice(start, start + len) : sql.slice(start);
  return text
    .replace(/^(\s*(--[^\n]*)?\n)*/, '')
    .trim()
    .replace(/\s+/g, ' ');
}

/**
 * The statements of a migration's up part that would break the live release. A migration Postgres
 * cannot parse is refused, naming the file and the parser's message.
 */
export async function breakingChanges(migration: string, sql: string): Promise<BreakingChange[]> {
  const up = upSection(sql);
  let tree: { stmts?: Node[] };
  try {
    tree = (await parse(up)) as { stmts?: Node[] };
  } catch (error) {
    throw new Error(`${migration}: Postgres cannot parse it: ${(error as Error).message}`);
  }
  const found: BreakingChange[] = [];
  for (const raw of tree.stmts ?? []) {
    for (const c of changesOf(obj(raw['stmt'])))
      found.push({ migration, statement: statementText(up, raw), ...c });
  }
  return found;
}

/** Why a release with these changes is refused, and the two ways on. */
export function breakingMessage(found: BreakingChange[]): string {
  const lines = found.map(
    (b) => `  ${b.migration}: \`${b.statement}\` ${b.change}. Safe way: ${b.safeWay}.`,
  );
  return [
    `${found.length === 1 ? 'A pending migration' : `${found.length} pending migration statements`} would break the live release (it keeps serving during the release, and a fast rollback returns to it):`,
    ...lines,
    'Nothing ran. Split the change over two releases, or deploy with --allowBreakingMigration (the history records it).',
  ].join('\n');
}
