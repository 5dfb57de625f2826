import { Tree } from '@nx/devkit';
import { appFiles } from '../../app/lib/owned-files';
import type { NormalizedAppOptions } from '../../app/lib/normalize-options';
import { DatabaseOptionsError } from './find-app';

/**
 * What to add by hand to a file that adding the database changes, when the file is no longer the
 * one the app generator wrote (the user's edits are never overwritten). By path in the app.
 */
const BY_HAND: Record<string, string> = {
  'frontend/src/App.tsx':
    "add `import { Notes } from './Notes';` and render `<Notes />` in the page (the generated page has it last in <main>).",
  'backend/src/main.ts':
    "create the pool and hand the notes to the app: `const pool = createPool();`, `buildApp({ logger: true, notes: postgresNotes(pool) })`, `app.addHook('onClose', async () => pool.end());` (from './db' and './notes').",
  'backend/src/app.ts':
    'add the option `notes?: NotesStore`, register `notesRoutes(app, notes)` and let /health answer 503 when `notes.ping()` throws (src/notes.ts).',
  'backend/Dockerfile':
    'copy the migrations and their runner into the image before the build info: `COPY migrate.js ./` and `COPY migrations/ ./migrations/`.',
  'backend/README.md':
    'the section "The database in development" (nx run <app>-backend:dev-db, :migrate) is not in it.',
  'e2e/src/app.spec.ts': 'the browser test that writes a note and reads it back is not in it.',
};

export interface FilePlan {
  /** Path -> new content: files to create and generated files to rewrite. */
  writes: Map<string, string>;
  /** One line per file left as it is, saying what to do by hand. */
  byHand: string[];
}

/**
 * A text with what a formatter (Prettier, oxfmt) changes taken out: whitespace, the quote
 * characters, semicolons and trailing commas. The app generator's files are formatted or not
 * (--skipFormat), with the workspace's configuration: both count as what it wrote. An edit that
 * changes only these is taken for no edit, which loses nothing a program depends on.
 */
export function withoutFormatting(text: string): string {
  return text
    .replace(/\s+/g, '')
    .replace(/"/g, "'")
    .replace(/;/g, '')
    .replace(/,(?=[)\]}>])/g, '');
}

const same = (a: string, b: string) => withoutFormatting(a) === withoutFormatting(b);

/**
 * The files adding the database writes: every file the app generator renders differently for
 * `after` than for `before`. A new file is created; a changed one is rewritten while it is still
 * what the generator wrote for `before`, else left as it is with a line saying what to add. A new
 * file that exists already with other content stops everything before a file is written.
 */
export function planDatabaseFiles(
  tree: Tree,
  before: NormalizedAppOptions,
  after: NormalizedAppOptions,
): FilePlan {
  const was = appFiles(before);
  const plan: FilePlan = { writes: new Map(), byHand: [] };
  const taken: string[] = [];
  for (const [path, next] of appFiles(after)) {
    const base = was.get(path);
    if (base === next) continue;
    const current = tree.read(path, 'utf-8');
    if (current !== null && same(current, next)) continue;
    if (base === undefined) {
      if (current === null) plan.writes.set(path, next);
      else taken.push(path);
    } else if (current !== null && same(current, base)) {
      plan.writes.set(path, next);
    } else {
      const hint = BY_HAND[path.slice(before.roots.root.length + 1)];
      const state = current === null ? 'is missing' : 'was changed since it was generated';
      plan.byHand.push(
        `${path} ${state}, so it was left as it is: ${hint ?? 'add the database parts by hand.'}`,
      );
    }
  }
  if (taken.length) {
    throw new DatabaseOptionsError(
      `These files exist already and are not the ones the database brings: ${taken.join(', ')}. ` +
        'Move them away (or delete them) and run the generator again; nothing was changed.',
    );
  }
  return plan;
}
