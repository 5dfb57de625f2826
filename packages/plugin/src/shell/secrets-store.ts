/**
 * The two sources of an app's secrets, at the edge: the profile's encrypted file (ansible-vault,
 * which ships with ansible-core, so every machine that deploys has it) and a secret store's
 * command. Plaintext only ever passes through pipes (stdin/stdout of these tools); the key reaches
 * ansible-vault as a 0600 file in a private folder (removed on exit and on signals), never in argv.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  formatDotenv,
  parseDotenv,
  parseSecretsText,
  Secrets,
  SECRETS_KEY_ENV,
  SECRETS_KEY_FILE_ENV,
  SecretsError,
  secretsFile,
} from '../core/config/secrets';
import type { Profile } from '../core/config/profile';
import { redact } from '../core/config/redact';
import { run } from './run';
import { PrivateDir } from './temp';

export interface SourceContext {
  workspaceRoot: string;
  env: NodeJS.ProcessEnv;
  profile: Profile;
  /** Values to redact from anything shown (the environment's secrets). */
  redactions: string[];
  dir: PrivateDir;
}

export type Source =
  | { kind: 'file'; file: string; path: string; label: string }
  | { kind: 'command'; command: string; label: string };

/** The profile's source: its secrets_command, else config/secrets/<profile>.vault. */
export function secretsSource(ctx: Pick<SourceContext, 'workspaceRoot' | 'profile'>): Source {
  const { profile } = ctx;
  if (profile.secrets_command)
    return {
      kind: 'command',
      command: profile.secrets_command,
      label: `the secrets_command of ${profile.file}`,
    };
  const file = secretsFile(profile.name);
  return { kind: 'file', file, path: join(ctx.workspaceRoot, file), label: file };
}

/** Where ansible-vault reads the key: CONVEYOR_SECRETS_KEY (written 0600), else CONVEYOR_SECRETS_KEY_FILE. */
function keyFile(ctx: SourceContext, file: string): string {
  const key = ctx.env[SECRETS_KEY_ENV];
  if (key) return ctx.dir.write('secrets-key', key.endsWith('\n') ? key : `${key}\n`);
  const path = ctx.env[SECRETS_KEY_FILE_ENV];
  if (path) {
    if (!existsSync(path))
      throw new SecretsError(
        `${SECRETS_KEY_FILE_ENV} names ${path}, which does not exist (the key of ${file}).`,
      );
    return path;
  }
  throw new SecretsError(
    `${file} is encrypted and no key is set: set ${SECRETS_KEY_ENV} (in CI: a secret of the environment) or ${SECRETS_KEY_FILE_ENV}. The host was not touched.`,
  );
}

function vaultEnv(ctx: SourceContext): NodeJS.ProcessEnv {
  return { ...ctx.env, ANSIBLE_NOCOLOR: '1', ANSIBLE_VAULT_PASSWORD_FILE: '' };
}

/** ansible-vault's own reason, without its paths, for a person. */
function vaultReason(output: string): string {
  const line =
    output
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.startsWith('ERROR!')) ?? output.trim().split('\n').pop();
  return (line ?? '').replace(/^ERROR!\s*/, '').replace(/ (on|for) \/\S+/g, '');
}

function vaultFailure(file: string, code: number, output: string, redactions: string[]): Error {
  if (code === 127)
    return new SecretsError(
      `ansible-vault was not found: install ansible-core (it also runs the deploys), then retry.`,
    );
  const reason = redact(vaultReason(output), redactions);
  if (/Decryption failed/i.test(output))
    return new SecretsError(
      `${file}: could not be decrypted with the key from ${SECRETS_KEY_ENV}/${SECRETS_KEY_FILE_ENV}: a wrong key, or the file was altered. The host was not touched.`,
    );
  return new SecretsError(
    `${file}: not a readable ansible-vault file (${reason || `exit ${code}`}). Restore it from git. The host was not touched.`,
  );
}

/** ansible-vault on the profile's file, its output on stdout (the key in the run's private folder). */
function vault(
  ctx: SourceContext,
  source: Extract<Source, { kind: 'file' }>,
  verb: 'decrypt' | 'encrypt',
  input: string,
  stdin?: string,
) {
  const argv = ['ansible-vault', verb, '--vault-password-file', keyFile(ctx, source.file)];
  return run(
    { argv: [...argv, '--output', '-', input], stdin },
    { cwd: ctx.workspaceRoot, env: vaultEnv(ctx), stream: false },
  );
}

/** The decrypted text of the profile's file ('' when it does not exist yet). */
export async function decryptFile(
  ctx: SourceContext,
  source: Extract<Source, { kind: 'file' }>,
): Promise<string> {
  if (!existsSync(source.path)) return '';
  const r = await vault(ctx, source, 'decrypt', source.path);
  if (r.code !== 0) throw vaultFailure(source.file, r.code, r.stderr, ctx.redactions);
  return r.stdout;
}

/** Encrypts `secrets` into the profile's file (written whole, atomically). */
export async function encryptFile(
  ctx: SourceContext,
  source: Extract<Source, { kind: 'file' }>,
  secrets: Secrets,
): Promise<void> {
  const r = await vault(ctx, source, 'encrypt', '-', formatDotenv(secrets));
  if (r.code !== 0 || !r.stdout.startsWith('$ANSIBLE_VAULT'))
    throw vaultFailure(source.file, r.code, r.stderr, ctx.redactions);
  mkdirSync(dirname(source.path), { recursive: true });
  const next = `${source.path}.${process.pid}.tmp`;
  writeFileSync(next, r.stdout, { mode: 0o644 });
  renameSync(next, source.path);
}

/** The store command's output, parsed; it is never printed (only its stderr, redacted, on failure). */
async function fromCommand(
  ctx: SourceContext,
  source: Extract<Source, { kind: 'command' }>,
): Promise<Secrets> {
  const r = await run(
    { argv: ['sh', '-c', source.command] },
    { cwd: ctx.workspaceRoot, env: ctx.env, stream: false },
  );
  if (r.code !== 0) {
    const tail = redact(r.stderr.trim().split('\n').slice(-10).join('\n'), ctx.redactions);
    throw new SecretsError(
      `${source.label} failed (exit ${r.code})${tail ? `:\n${tail}` : '.'}\nThe host was not touched.`,
    );
  }
  if (r.stdout.trim() === '')
    throw new SecretsError(`${source.label} printed nothing. The host was not touched.`);
  return parseSecretsText(r.stdout, source.label);
}

/** Every secret the profile's source has. */
export async function readSecrets(ctx: SourceContext, source: Source): Promise<Secrets> {
  if (source.kind === 'command') return fromCommand(ctx, source);
  if (!existsSync(source.path)) return {};
  return parseDotenv(await decryptFile(ctx, source), source.file);
}

/** A file's content overwritten before it is removed (a best effort: no copy-on-write guarantees). */
export function shred(path: string): void {
  if (!existsSync(path)) return;
  try {
    const size = readFileSync(path).length;
    writeFileSync(path, Buffer.alloc(Math.max(size, 1)));
  } catch {
    // removed below in any case
  }
}
