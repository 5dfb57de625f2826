/** Which tag an image gets: explicit option, IMAGE_TAG, else the short git sha. */
import type { PushRecord } from './release';

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export class TagError extends Error {
  override name = 'TagError';
}

/**
 * A text option as the user typed it on the command line. Nx's argument parser turns values that
 * look like numbers into numbers: a short git sha of digits only (about one commit in 27) becomes
 * 2980737, one like 12e4567 becomes Infinity. The raw argument, which Nx keeps in its
 * task graph, is the source of truth; otherwise the value as given.
 */
export function cliText(
  name: string,
  value: string | number | undefined,
  unparsed: readonly string[] | undefined,
): string | undefined {
  const args = unparsed ?? [];
  for (let i = args.length - 1; i >= 0; i--) {
    if (args[i].startsWith(`--${name}=`)) return args[i].slice(name.length + 3);
    if (args[i] === `--${name}` && i + 1 < args.length) return args[i + 1];
  }
  return value === undefined ? undefined : String(value);
}

export function validateTag(tag: string, source: string): string {
  if (!TAG.test(tag)) {
    throw new TagError(
      `${source} "${tag}" is not a valid image tag: use letters, digits, "_", "." and "-" (at most 128, not starting with "." or "-").`,
    );
  }
  return tag;
}

export interface TagSources {
  option?: string;
  envImageTag?: string;
  gitSha?: string;
}

export function resolveTag({ option, envImageTag, gitSha }: TagSources): string {
  if (option) return validateTag(option, '--tag');
  if (envImageTag) return validateTag(envImageTag, 'IMAGE_TAG');
  if (gitSha) return validateTag(gitSha, 'git sha');
  throw new TagError(
    'No image tag: this workspace is not a git repository (or has no commit yet) and IMAGE_TAG is not set. ' +
      'Commit once, or set IMAGE_TAG, or pass --tag.',
  );
}

export function resolveGitSha(
  envGitSha: string | undefined,
  headSha: string | undefined,
): string | undefined {
  return envGitSha || headSha || undefined;
}

/** The tag that names an image by its content hash, so unchanged inputs are found in the registry. */
export function contentTag(hash: string): string {
  return `content-${hash.slice(0, 32)}`;
}

/**
 * The tag of a build-push record (dist/conveyor/<app>/<profile>.json), held to the same check as
 * --tag: the record is a file in the workspace, and its tag reaches image references and the host.
 */
export function checkRecordTag(tag: unknown, file: string): string {
  if (typeof tag !== 'string') {
    throw new TagError(
      `${file}: "tag" must be text, got ${JSON.stringify(tag) ?? 'nothing'}. Run build-push again.`,
    );
  }
  try {
    return validateTag(tag, `${file}: tag`);
  } catch (error) {
    throw new TagError(`${(error as Error).message} Run build-push again.`);
  }
}

/** What deploy needs of a build-push record. */
export type RecordedRelease = Pick<PushRecord, 'tag' | 'commit' | 'git_sha'> & { git_sha?: string };

export type DeployTagSource = '--tag' | 'build-push record' | 'IMAGE_TAG' | 'git sha';

export interface DeployTagInput {
  optionTag?: string;
  record?: RecordedRelease;
  /** Workspace-relative path of the record, for messages. */
  recordFile?: string;
  /** Full sha of HEAD (`git rev-parse HEAD`); undefined outside a git repository. */
  headSha?: string;
  /** The tag HEAD gets without a record: GIT_SHA, else HEAD's short sha. */
  gitSha?: string;
  envImageTag?: string;
}

const SHA = /^[0-9a-f]{4,64}$/i;

/** Whether two shas (full or abbreviated) name the same commit; undefined when either is not a sha. */
function sameCommit(a: string | undefined, b: string | undefined): boolean | undefined {
  if (!a || !b || !SHA.test(a) || !SHA.test(b)) return undefined;
  const [x, y] = [a.toLowerCase(), b.toLowerCase()];
  return x.startsWith(y) || y.startsWith(x);
}

/** A commit as `git rev-parse --short` shows it (7 hex digits), for messages. */
const short = (sha: string | undefined) => (sha ?? '').slice(0, 7);

/**
 * Which tag a deploy puts live: --tag; else the release build-push recorded, when it was built
 * from the commit checked out (after `git checkout <older commit>` the record still names the newer
 * release: that is an error, not a silent deploy of something else); else IMAGE_TAG; else HEAD's sha.
 */
export function chooseDeployTag(input: DeployTagInput): { tag: string; from: DeployTagSource } {
  const { optionTag, record, headSha, envImageTag, gitSha } = input;
  if (optionTag) return { tag: validateTag(optionTag, '--tag'), from: '--tag' };
  if (record) {
    const file = input.recordFile ?? 'the build-push record';
    const tag = checkRecordTag(record.tag, file);
    const built = record.commit || record.git_sha;
    if (sameCommit(built, headSha) === false) {
      throw new TagError(
        `The recorded release ${tag} (${file}) is of commit ${short(built)}, but HEAD is ${short(headSha)}; ` +
          `run build-push for HEAD, or pass --tag=${tag} to deploy it anyway.`,
      );
    }
    return { tag, from: 'build-push record' };
  }
  if (envImageTag) return { tag: validateTag(envImageTag, 'IMAGE_TAG'), from: 'IMAGE_TAG' };
  return { tag: resolveTag({ gitSha }), from: 'git sha' };
}
