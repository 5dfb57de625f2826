/**
 * .gitignore lines that keep local environment files out of git: env.example says to copy it to
 * .env, Nx loads .env (and .env.<name>) into every task, and they hold SSH_KEY_B64 and
 * REGISTRY_PASS. Templates (*.example, e.g. apps/<app>/.env.staging.example) stay tracked.
 */
export const ENV_IGNORE_COMMENT =
  '# Local environment files hold secrets (Conveyor: SSH_KEY_B64, REGISTRY_PASS); *.example templates stay tracked.';
export const ENV_IGNORE_LINES = ['.env', '.env.*', '!.env*.example'] as const;

/**
 * The .gitignore text with the lines above appended where missing; the user's lines are kept as
 * they are. Returns undefined when nothing needs adding (running init again changes nothing).
 */
export function withEnvIgnored(current: string | null | undefined): string | undefined {
  const text = current ?? '';
  const present = new Set(text.split(/\r?\n/).map((l) => l.trim()));
  const missing = ENV_IGNORE_LINES.filter((l) => !present.has(l));
  if (missing.length === 0) return undefined;
  const head = text === '' || text.endsWith('\n') ? text : `${text}\n`;
  const gap = head === '' ? '' : '\n';
  const comment = present.has(ENV_IGNORE_COMMENT) ? [] : [ENV_IGNORE_COMMENT];
  return `${head}${gap}${[...comment, ...missing].join('\n')}\n`;
}
