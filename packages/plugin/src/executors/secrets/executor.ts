/**
 * `nx run <app>:secrets --configuration=<profile> <edit|set NAME|unset NAME|list|check>`: the
 * profile's secrets, without ever printing a value. edit/set/unset change the encrypted file
 * config/secrets/<profile>.vault; a profile whose secrets come from a store's command is changed
 * in the store.
 */
import { profileName } from '../../core/release/deploy-model';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import type { ExecutorContext } from '@nx/devkit';
import { loadProfile } from '../../core/config/profile';
import { redact } from '../../core/config/redact';
import {
  formatDotenv,
  missingMessage,
  missingSecrets,
  nameError,
  parseDotenv,
  redactable,
  Secrets,
  SecretsError,
} from '../../core/config/secrets';
import { log } from '../../shell/log';
import {
  decryptFile,
  encryptFile,
  readSecrets,
  secretsSource,
  shred,
  Source,
  SourceContext,
} from '../../shell/secrets-store';
import { conveyorExecutor } from '../../remote/executor';
import { declaredSecrets } from '../../remote/secrets';
import type { SecretsExecutorSchema } from './schema';

type FileSource = Extract<Source, { kind: 'file' }>;

function readStdin(): Promise<string> {
  if (process.stdin.isTTY) log.info('Type the value, then Enter and Ctrl-D:');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

/** Opens the user's editor on `file`; resolves to why it failed, or undefined. */
function runEditor(env: NodeJS.ProcessEnv, file: string): Promise<string | undefined> {
  const editor = env['VISUAL'] || env['EDITOR'] || 'vi';
  return new Promise((resolve) => {
    // As git does: the editor setting may carry arguments ("code --wait").
    const child = spawn('sh', ['-c', `exec ${editor} "$1"`, editor, file], {
      stdio: 'inherit',
      env,
    });
    child.on('error', (e) => resolve(e.message));
    child.on('close', (code, signal) => {
      // A shell reports an editor ended by a signal as 128 + its number.
      const by =
        signal ??
        (code !== null && code > 128
          ? Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0]
          : undefined);
      resolve(
        by
          ? `the editor was stopped (${by})`
          : code === 0
            ? undefined
            : `the editor exited with ${code}`,
      );
    });
  });
}

function needFile(source: Source, command: string): FileSource {
  if (source.kind === 'file') return source;
  throw new SecretsError(
    `${command}: this profile's secrets come from ${source.label}; change them in that store.`,
  );
}

async function edit(ctx: SourceContext, source: FileSource, say: (t: string) => void) {
  const before = parseDotenv(await decryptFile(ctx, source), source.file);
  ctx.redactions.push(...redactable(before));
  const file = ctx.dir.write(`${ctx.profile.name}.env`, formatDotenv(before));
  try {
    const failed = await runEditor(ctx.env, file);
    if (failed) throw new SecretsError(`${failed}: ${source.file} is unchanged.`);
    const after = parseDotenv(readFileSync(file, 'utf8'), `the edited ${source.file}`);
    if (formatDotenv(after) === formatDotenv(before)) {
      say(`${source.file}: no change.`);
      return;
    }
    await encryptFile(ctx, source, after);
    const names = (s: Secrets) => new Set(Object.keys(s));
    const added = [...names(after)].filter((n) => !(n in before));
    const removed = [...names(before)].filter((n) => !(n in after));
    const changed = [...names(after)].filter((n) => n in before && before[n] !== after[n]);
    say(
      `${source.file}: encrypted again (${[
        added.length ? `added ${added.join(', ')}` : '',
        changed.length ? `changed ${changed.join(', ')}` : '',
        removed.length ? `removed ${removed.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; ')}).`,
    );
  } finally {
    shred(file);
  }
}

export default async function secrets(options: SecretsExecutorSchema, context: ExecutorContext) {
  return conveyorExecutor('secrets', context, async (run) => {
    const { app, env, dir, say } = run;
    const redactions = run.secrets;
    const profile = loadProfile(context.root, profileName(options), env, {
      require: ['secrets_command'],
    });
    const ctx: SourceContext = { workspaceRoot: context.root, env, profile, redactions, dir };
    const source = secretsSource(ctx);
    const declared = declaredSecrets(options, context);
    const command = options.command ?? 'list';
    const name = options.name === undefined ? undefined : String(options.name);
    if ((command === 'set' || command === 'unset') && !name)
      throw new SecretsError(`${command} needs the secret's name: ... secrets ${command} NAME.`);
    const bad = name ? nameError(name) : undefined;
    if (bad) throw new SecretsError(bad);

    if (command === 'list' || command === 'check') {
      const all = await readSecrets(ctx, source);
      if (command === 'list') {
        say(`${source.label} (profile ${profile.name}):`);
        const names = [...new Set([...Object.keys(all), ...declared])].sort();
        if (names.length === 0) say('  (no secrets)');
        for (const n of names) {
          const state = !(n in all)
            ? 'MISSING (declared)'
            : declared.includes(n)
              ? 'declared'
              : 'not declared by this app';
          say(`  ${n}  ${state}`);
        }
        return missingSecrets(declared, all).length === 0;
      }
      const missing = missingSecrets(declared, all);
      if (missing.length > 0) {
        log.error(redact(missingMessage(app, profile.name, source.label, missing), redactions));
        return false;
      }
      say(
        `${app}: every declared secret (${declared.length ? declared.join(', ') : 'none'}) is in ${source.label}.`,
      );
      return true;
    }

    const file = needFile(source, command);
    if (command === 'edit') {
      await edit(ctx, file, say);
      return true;
    }
    const current = parseDotenv(await decryptFile(ctx, file), file.file);
    ctx.redactions.push(...redactable(current));
    const key = name as string;
    if (command === 'set') {
      const raw = await readStdin();
      // One trailing newline is the shell's (echo, a here-string), not the value's.
      const value = raw.replace(/\r?\n$/, '');
      if (value === '') throw new SecretsError(`set ${key}: no value on stdin.`);
      ctx.redactions.push(...redactable({ [key]: value }));
      const existed = key in current;
      await encryptFile(ctx, file, { ...current, [key]: value });
      say(`${file.file}: ${key} ${existed ? 'changed' : 'added'}.`);
      return true;
    }
    if (!(key in current)) throw new SecretsError(`${file.file} has no secret ${key}.`);
    const rest = { ...current };
    delete rest[key];
    await encryptFile(ctx, file, rest);
    say(
      `${file.file}: ${key} removed.` +
        (declared.includes(key)
          ? ` ${app} still declares it: deploys fail until it is set again or no longer declared.`
          : ''),
    );
    return true;
  });
}
