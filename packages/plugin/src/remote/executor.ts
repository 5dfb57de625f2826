/**
 * The opening and closing every executor that reaches a host shares: this machine's secrets are
 * redacted from every line printed (the app's join them once read), a private folder holds the
 * run's keys and files and is removed whatever happens, and a failure is one redacted line
 * `<name> failed: <why>`.
 */
import type { ExecutorContext } from '@nx/devkit';
import { redact, secretValues } from '../core/config/redact';
import { log } from '../shell/log';
import { PrivateDir } from '../shell/temp';

export interface ExecutorRun {
  app: string;
  root: string;
  env: NodeJS.ProcessEnv;
  /** Values redacted from every line printed; push the app's secrets here once read. */
  secrets: string[];
  dir: PrivateDir;
  /** One line for a person, redacted. */
  say(text: string): void;
}

export async function conveyorExecutor(
  name: string,
  context: Pick<ExecutorContext, 'projectName' | 'root'>,
  body: (run: ExecutorRun) => Promise<boolean>,
): Promise<{ success: boolean }> {
  const env = process.env;
  const secrets = [...secretValues(env)];
  const dir = new PrivateDir(`conveyor-${name}-`);
  const run: ExecutorRun = {
    app: context.projectName as string,
    root: context.root,
    env,
    secrets,
    dir,
    say: (text) => log.info(redact(text, secrets)),
  };
  try {
    return { success: await body(run) };
  } catch (error) {
    log.error(redact(`${name} failed: ${(error as Error).message}`, secrets));
    return { success: false };
  } finally {
    dir.cleanup();
  }
}
