import { isDeepStrictEqual } from 'node:util';

/** The outcome of a three-way merge: the value to keep, or a conflict (then `value` is `current`). */
export interface Merged {
  value: unknown;
  conflict: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrings = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * What a generated value becomes when the generator's output moves from `base` to `next` while
 * the workspace holds `current` (a target of a project.json, say). Untouched (current = base):
 * next. Objects merge key by key. Lists of strings (secrets, outputs, dependsOn) merge as sets:
 * the user's entries stay, the generator's new ones are added, the ones it dropped go, and one the
 * user removed does not come back. Anything else the user changed where the generator changes it
 * too is a conflict. Pure.
 */
export function mergeGenerated(current: unknown, base: unknown, next: unknown): Merged {
  if (isDeepStrictEqual(current, next) || isDeepStrictEqual(current, base)) {
    return { value: next, conflict: false };
  }
  if (isDeepStrictEqual(base, next)) return { value: current, conflict: false };
  if (isObject(current) && (base === undefined || isObject(base)) && isObject(next)) {
    const value: Record<string, unknown> = {};
    for (const key of new Set([...Object.keys(next), ...Object.keys(current)])) {
      const merged = mergeGenerated(current[key], base?.[key], next[key]);
      if (merged.conflict) return { value: current, conflict: true };
      if (merged.value !== undefined) value[key] = merged.value;
    }
    return { value, conflict: false };
  }
  if (isStrings(current) && (base === undefined || isStrings(base)) && isStrings(next)) {
    const was = base ?? [];
    const dropped = (x: string) => was.includes(x) && !next.includes(x);
    const added = next.filter((x) => !was.includes(x) && !current.includes(x));
    return { value: [...current.filter((x) => !dropped(x)), ...added], conflict: false };
  }
  return { value: current, conflict: true };
}
