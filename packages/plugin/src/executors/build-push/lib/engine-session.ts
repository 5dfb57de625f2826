/**
 * The container engine of build-push's fallback, logged in to the registry for this run only: the
 * login goes to a private folder (0700: DOCKER_CONFIG for docker, REGISTRY_AUTH_FILE for podman)
 * that the build and the push read too, and close() logs out and removes it. The password goes on
 * stdin, never on a command line; the runner's ~/.docker/config.json is never written.
 */
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Secrets } from '../../../core/config/redact';
import {
  DOCKER_CONFIG_LINKS,
  Engine,
  loginCommand,
  logoutCommand,
  privateDockerConfig,
  privateLoginEnv,
} from '../../../core/image/engine';
import { run, runOrThrow } from '../../../shell/run';
import { PrivateDir } from '../../../shell/temp';

export interface EngineLogin {
  registry: string;
  user: string;
  password: string;
}

export interface EngineSession {
  engine: Engine;
  /** The environment of every engine command of the run (the private login's, when logged in). */
  env: NodeJS.ProcessEnv;
  /** Logs out and removes the private folder; never throws. */
  close(): Promise<void>;
}

/** A private DOCKER_CONFIG that keeps the user's contexts, plugins and settings, not its logins to `registry`. */
function prepareDockerConfig(dir: PrivateDir, env: NodeJS.ProcessEnv, registry: string): void {
  const userDir = env['DOCKER_CONFIG'] || join(env['HOME'] || homedir(), '.docker');
  let user: unknown;
  try {
    user = JSON.parse(readFileSync(join(userDir, 'config.json'), 'utf8'));
  } catch {
    // No config of the user's (or not JSON): nothing to carry over.
  }
  dir.write('config.json', JSON.stringify(privateDockerConfig(user, registry), null, 2) + '\n');
  for (const name of DOCKER_CONFIG_LINKS)
    if (existsSync(join(userDir, name))) symlinkSync(join(userDir, name), dir.file(name));
}

export async function openEngineSession(
  engine: Engine,
  env: NodeJS.ProcessEnv,
  login: EngineLogin | undefined,
  secrets: Secrets,
): Promise<EngineSession> {
  if (!login) return { engine, env, close: async () => undefined };
  const dir = new PrivateDir(`conveyor-${engine}-login-`);
  const sessionEnv = { ...env, ...privateLoginEnv(engine, dir.path) };
  try {
    if (engine === 'docker') prepareDockerConfig(dir, env, login.registry);
    await runOrThrow(
      loginCommand(engine, login.registry, login.user, login.password),
      `${engine} login to ${login.registry}`,
      { env: sessionEnv, secrets, stream: false },
    );
  } catch (error) {
    dir.cleanup();
    throw error;
  }
  return {
    engine,
    env: sessionEnv,
    close: async () => {
      try {
        // The folder goes anyway; the logout also clears a credential helper the engine may use.
        await run(logoutCommand(engine, login.registry), {
          env: sessionEnv,
          secrets,
          stream: false,
        });
      } finally {
        dir.cleanup();
      }
    },
  };
}
