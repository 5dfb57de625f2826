import { resolve } from 'node:path';
import type { ExecutorContext } from '@nx/devkit';
import { TOOL_ENV } from '../../core/names';
import { validatePort } from '../../core/ports';
import { loadProfile } from '../../core/profile';
import { redact, secretValues } from '../../core/redact';
import { log } from '../../shell/log';
import { PrivateDir } from '../../shell/temp';
import { sshSettings, whereText } from '../deploy/lib/connection';
import { inventoryHosts } from '../deploy/lib/inventory';
import { checkHost } from './check-host';
import type { DoctorExecutorSchema } from './schema';

function port(fromEnv: string | undefined, option: number | undefined, name: string) {
  if (fromEnv !== undefined && fromEnv !== '') return validatePort(fromEnv, name);
  return option === undefined ? undefined : validatePort(option, `--${name}`);
}

/** Checks that each host is ready for the app and prints, per check, ok or what to fix. */
export default async function doctor(options: DoctorExecutorSchema, context: ExecutorContext) {
  const env = process.env;
  const secrets = secretValues(env);
  const dir = new PrivateDir('conveyor-doctor-');
  const app = context.projectName as string;
  try {
    const profile = loadProfile(context.root, options.profile ?? 'local', env);
    const backendPort = port(env[TOOL_ENV.backendPort], options.backendPort, 'backendPort');
    if (backendPort === undefined) throw new Error('backendPort is not set for this target.');
    const frontendPort =
      options.frontendPort === undefined
        ? undefined
        : port(env[TOOL_ENV.frontendPort], options.frontendPort, 'frontendPort');
    const ssh = sshSettings(profile, env, dir);
    const hosts = options.ansibleDir
      ? await inventoryHosts(resolve(context.root, options.ansibleDir), profile, env, secrets, {
          backendPort,
          frontendPort,
        })
      : [{ profile, backendPort, frontendPort, projectPrefix: undefined }];
    let passed = true;
    for (const h of hosts) {
      const r = await checkHost(h.profile, app, ssh, secrets, {
        backendPort: h.backendPort,
        frontendPort: h.frontendPort,
        projectPrefix: h.projectPrefix,
        minFreeGiB: options.minFreeGiB,
      });
      log.info(whereText(h.profile, app));
      for (const line of r.lines) log.info(redact(`  ${line}`, secrets));
      passed &&= r.passed;
    }
    if (!passed) log.error(`${app} on ${profile.name}: the host is not ready (see FIX above).`);
    else log.info(`${app} on ${profile.name}: ready.`);
    return { success: passed };
  } catch (error) {
    log.error(redact(`doctor failed: ${(error as Error).message}`, secrets));
    return { success: false };
  } finally {
    dir.cleanup();
  }
}
