import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Profile } from '../core/config/profile';
import {
  decryptFile,
  encryptFile,
  readSecrets,
  secretsSource,
  SourceContext,
} from './secrets-store';
import { PrivateDir } from './temp';

// Against the real ansible-vault (ansible-core), as a deploy would run it.
const root = mkdtempSync(join(tmpdir(), 'conveyor-secrets-spec-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const profile = { name: 'staging', file: 'config/profiles/staging.yml' } as Profile;
const KEY = 'correct horse battery staple';

function context(env: NodeJS.ProcessEnv, p: Profile = profile): SourceContext {
  return { workspaceRoot: root, env, profile: p, redactions: [], dir: new PrivateDir('spec-') };
}

describe('the encrypted file', () => {
  // Each case runs ansible-vault (a Python start-up) several times: seconds on a busy machine.
  jest.setTimeout(30_000);
  const source = secretsSource({ workspaceRoot: root, profile });
  if (source.kind !== 'file') throw new Error('expected a file source');

  it('is config/secrets/<profile>.vault; a missing file has no secrets', async () => {
    expect(source.file).toBe('config/secrets/staging.vault');
    expect(await readSecrets(context({ CONVEYOR_SECRETS_KEY: KEY }), source)).toEqual({});
  });

  it('round-trips through ansible-vault with the key from the variable or a file', async () => {
    const ctx = context({ ...process.env, CONVEYOR_SECRETS_KEY: KEY });
    await encryptFile(ctx, source, {
      API_KEY: 'sk-live-0123456789',
      DATABASE_URL: 'pg://u:p@h/db',
    });
    const text = readFileSync(source.path, 'utf8');
    expect(text.startsWith('$ANSIBLE_VAULT;1.1;AES256')).toBe(true);
    expect(text).not.toContain('sk-live');
    expect(await readSecrets(ctx, source)).toEqual({
      API_KEY: 'sk-live-0123456789',
      DATABASE_URL: 'pg://u:p@h/db',
    });
    const keyFile = join(root, 'key');
    writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
    expect(
      await readSecrets(context({ ...process.env, CONVEYOR_SECRETS_KEY_FILE: keyFile }), source),
    ).toHaveProperty('API_KEY');
  });

  it('says what is wrong: no key, a wrong key, a damaged file', async () => {
    await expect(decryptFile(context({ PATH: process.env.PATH }), source)).rejects.toThrow(
      'config/secrets/staging.vault is encrypted and no key is set: set CONVEYOR_SECRETS_KEY',
    );
    await expect(
      decryptFile(context({ ...process.env, CONVEYOR_SECRETS_KEY: 'wrong key' }), source),
    ).rejects.toThrow('could not be decrypted with the key');
    await expect(
      decryptFile(context({ ...process.env, CONVEYOR_SECRETS_KEY_FILE: '/nonexistent/k' }), source),
    ).rejects.toThrow('CONVEYOR_SECRETS_KEY_FILE names /nonexistent/k, which does not exist');
    const text = readFileSync(source.path, 'utf8');
    writeFileSync(source.path, text.replace(/3/g, 'z'));
    await expect(
      decryptFile(context({ ...process.env, CONVEYOR_SECRETS_KEY: KEY }), source),
    ).rejects.toThrow('config/secrets/staging.vault: not a readable ansible-vault file');
    writeFileSync(source.path, text);
  });
});

describe('the store command', () => {
  const withCommand = (command: string) => ({ ...profile, secrets_command: command });

  it('parses its output (dotenv or JSON) and never shows it', async () => {
    const p = withCommand(`printf '{"data":{"data":{"API_KEY":"from-store-123"}}}'`);
    const source = secretsSource({ workspaceRoot: root, profile: p });
    expect(source.label).toBe('the secrets_command of config/profiles/staging.yml');
    expect(await readSecrets(context(process.env, p), source)).toEqual({
      API_KEY: 'from-store-123',
    });
  });

  it('reports a failing command with its stderr, and empty output', async () => {
    const failing = withCommand('echo "permission denied" >&2; echo A=leak; exit 3');
    const err = await readSecrets(
      context(process.env, failing),
      secretsSource({ workspaceRoot: root, profile: failing }),
    ).catch((e: Error) => e);
    expect((err as Error).message).toContain(
      'the secrets_command of config/profiles/staging.yml failed (exit 3):\npermission denied',
    );
    expect((err as Error).message).not.toContain('leak');
    const silent = withCommand('true');
    await expect(
      readSecrets(
        context(process.env, silent),
        secretsSource({ workspaceRoot: root, profile: silent }),
      ),
    ).rejects.toThrow('printed nothing');
  });
});
