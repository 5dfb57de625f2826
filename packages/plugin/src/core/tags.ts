/** Which tag an image gets: explicit option, IMAGE_TAG, else the short git sha. */

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
