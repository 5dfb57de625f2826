/**
 * The line between the files Conveyor owns in an app and the files its user owns. Owned files
 * carry a header saying so; `apps/<app>/conveyor.json` records, per owned file, the hash of what
 * Conveyor wrote, so an update can tell an untouched file (rewritten) from an edited one (the new
 * version goes beside it). Pure: no processes, no fs.
 */
import { createHash } from 'node:crypto';

/** The manifest of an app, at the app's root. */
export const MANIFEST_FILE = 'conveyor.json';

/** Where the new version of an owned file goes when the user edited it. */
export const NEW_SUFFIX = '.conveyor-new';

/** Extension points: files the user owns that the deploy uses when they exist. */
export const COMPOSE_OVERRIDE = 'docker-compose.override.yml';
/** Used instead of COMPOSE_OVERRIDE for one environment when it exists. */
export const composeOverrideFor = (env: string) => `docker-compose.override.${env}.yml`;
export const HOOKS_DIR = 'hooks';
export const HOOKS = {
  beforePull: 'before-pull',
  afterSwitch: 'after-switch',
  afterFailure: 'after-failure',
} as const;
/**
 * The hook between the gate and the switch runs on the host in the middle of the release, so it
 * is a script (hooks/before-switch.sh), not Ansible tasks: a non-zero exit stops the release with
 * the live release untouched.
 */
export const BEFORE_SWITCH_HOOK = 'before-switch.sh';

/** Owned files of an app, relative to its root, with where to customise instead. */
export const OWNED_FILES: Record<string, string> = {
  'docker-compose.staging.yml': `${COMPOSE_OVERRIDE} next to this file (merged at every deploy)`,
  '.env.staging.example': `${COMPOSE_OVERRIDE} (environment) and config/profiles/<profile>.yml`,
  'DEPLOY_STAGING.md': 'a document of your own',
  'infra/ansible/playbook.yml': `task files in infra/ansible/${HOOKS_DIR}/ (${Object.values(HOOKS)
    .map((h) => `${h}.yml`)
    .join(', ')})`,
  'infra/ansible/bootstrap.yml': 'a playbook of your own run after it',
  'infra/ansible/ansible.cfg': 'ANSIBLE_* environment variables',
  'infra/ansible/README.md': 'a document of your own',
};

/** Owned file paths of an app (relative to its root), sorted. */
export function ownedPaths(): string[] {
  return Object.keys(OWNED_FILES).sort();
}

export function ownedHeaderText(path: string): string[] {
  return [
    'Owned by @conveyor/plugin: `nx migrate` keeps this file current (an edited copy is kept and the',
    `new version written beside it). Customise with ${OWNED_FILES[path] ?? 'files of your own'}.`,
  ];
}

/** The header lines for a file, in its comment syntax. */
export function ownedHeader(path: string): string {
  const lines = ownedHeaderText(path);
  if (path.endsWith('.md')) return `<!-- ${lines.join(' ')} -->\n`;
  return lines.map((l) => `# ${l}`).join('\n');
}

export function contentHash(content: string): string {
  return 'sha256:' + createHash('sha256').update(content.replace(/\r\n/g, '\n')).digest('hex');
}

/** The options an app was generated with: enough to generate its owned files again. */
export interface AppRecipe {
  name: string;
  directory: string;
  frontend: 'react-vite' | 'none';
  /** Absent in manifests written before --database: none. */
  database?: 'none' | 'postgres';
  backendPort: number;
  frontendPort: number;
}

export interface Manifest {
  $comment: string;
  /** The plugin version that last wrote the owned files. */
  version: string;
  options: AppRecipe;
  /** Owned file (relative to the app's root) -> hash of what Conveyor wrote. */
  owned: Record<string, string>;
}

export function manifest(version: string, options: AppRecipe, owned: Record<string, string>) {
  const sorted = Object.fromEntries(Object.entries(owned).sort(([a], [b]) => a.localeCompare(b)));
  const m: Manifest = {
    $comment:
      'Written by @conveyor/plugin: the files it owns in this app and the hash of what it wrote. Do not edit.',
    version,
    options,
    owned: sorted,
  };
  return JSON.stringify(m, null, 2) + '\n';
}

export type OwnedAction =
  | { path: string; action: 'unchanged' | 'write' | 'create' | 'delete' }
  | { path: string; action: 'beside'; besidePath: string }
  | { path: string; action: 'keep-edited' };

/**
 * What an update does with one owned file. `written` is the hash Conveyor wrote (from the
 * manifest, or from regenerating what the earlier version wrote); `current` the file as it is now
 * (undefined: missing); `next` what this version generates (undefined: no longer generated).
 */
export function decide(
  path: string,
  written: string | undefined,
  current: string | undefined,
  next: string | undefined,
): OwnedAction {
  const edited = current !== undefined && written !== undefined && contentHash(current) !== written;
  if (next === undefined) {
    if (current === undefined) return { path, action: 'unchanged' };
    return edited ? { path, action: 'keep-edited' } : { path, action: 'delete' };
  }
  if (current === undefined) return { path, action: 'create' };
  if (current === next) return { path, action: 'unchanged' };
  if (edited) return { path, action: 'beside', besidePath: path + NEW_SUFFIX };
  return { path, action: 'write' };
}

/** A unified-style line diff (no context trimming beyond 2 lines), for the terminal. */
export function lineDiff(before: string, after: string, name: string): string {
  const a = before.split('\n');
  const b = after.split('\n');
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const lines: { op: ' ' | '-' | '+'; text: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      lines.push({ op: ' ', text: a[i] });
      i++;
      j++;
    } else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      lines.push({ op: '-', text: a[i++] });
    } else {
      lines.push({ op: '+', text: b[j++] });
    }
  }
  const keep = lines.map((_, k) =>
    lines.slice(Math.max(0, k - 2), k + 3).some((x) => x.op !== ' '),
  );
  const out = [`--- ${name} (yours)`, `+++ ${name}${NEW_SUFFIX} (this version)`];
  let skipped = false;
  lines.forEach((l, k) => {
    if (!keep[k]) {
      if (!skipped) out.push('@@');
      skipped = true;
      return;
    }
    skipped = false;
    out.push(`${l.op}${l.text}`);
  });
  return out.join('\n');
}
