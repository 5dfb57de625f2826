import { resolve } from 'node:path';
import type { ExecutorContext } from '@nx/devkit';
import { inventoryFor, SshSettings } from '../../core/remote/ansible';
import { appPorts, profileName, withDomain } from '../../core/release/deploy-model';
import { loadProfile } from '../../core/config/profile';
import { ansibleEnvironment } from '../../core/remote/ssh-options';
import { log } from '../../shell/log';
import { run } from '../../shell/run';
import { conveyorExecutor } from '../../remote/executor';
import { withDeployOptions } from '../deploy-target';
import { sshSettings } from '../../remote/connection';
import type { BootstrapExecutorSchema } from './schema';
import { bootstrapVars, recapSummary } from './vars';

export const ADMIN_KEY_ENV = 'CONVEYOR_BOOTSTRAP_SSH_KEY_B64';

/** Runs infra/ansible/bootstrap.yml against the profile's hosts as root or a sudo user. */
export default async function bootstrap(
  options: BootstrapExecutorSchema,
  context: ExecutorContext,
) {
  return conveyorExecutor('bootstrap', context, async ({ root, env, secrets, dir, say }) => {
    const target = withDeployOptions(options, context);
    // The deploy target's domain over the profile's: the edge's ports are opened for it.
    const profile = withDomain(loadProfile(root, profileName(target), env), target.domain);
    if (profile.connection !== 'ssh')
      throw new Error(
        `profile ${profile.name} deploys to this machine (connection local): nothing to bootstrap.`,
      );
    const ci = sshSettings(profile, env, dir);
    if (!ci.keyFile)
      throw new Error(
        "SSH_KEY_B64 (the CI key) is needed: the deploy user's login is checked with it.",
      );
    let ciPublicKey = options.ciPublicKey;
    if (!ciPublicKey) {
      const r = await run(
        { argv: ['ssh-keygen', '-y', '-f', ci.keyFile] },
        { secrets, stream: false },
      );
      if (r.code !== 0)
        throw new Error(`ssh-keygen -y could not read SSH_KEY_B64: ${r.stderr.trim()}`);
      ciPublicKey = r.stdout.trim();
    }
    const admin: SshSettings = { knownHostsFile: ci.knownHostsFile };
    const adminKey = env[ADMIN_KEY_ENV];
    if (adminKey)
      admin.keyFile = dir.write('id_admin', Buffer.from(adminKey, 'base64').toString('utf8'));
    const { backend, frontend } = appPorts(target, env);
    const ports = frontend === undefined ? [backend] : [backend, frontend];
    const vars = bootstrapVars({
      profile,
      adminUser: options.adminUser ?? 'root',
      engine: options.engine ?? 'docker',
      ciPublicKey,
      ports,
      adminSsh: admin,
      deployKeyFile: ci.keyFile,
    });
    const ansibleDir = resolve(root, target.ansibleDir);
    const argv = [
      'ansible-playbook',
      '-i',
      inventoryFor(profile.name),
      'bootstrap.yml',
      '-e',
      `@${dir.write('bootstrap.json', JSON.stringify(vars))}`,
    ];
    if (options.check) argv.push('--check', '--diff');
    say(
      `bootstrap ${profile.name}: ${options.adminUser ?? 'root'}@${profile.ssh_host}:${profile.ssh_port}${options.check ? ' (check mode: nothing changes)' : ''}`,
    );
    const r = await run(
      { argv },
      {
        cwd: ansibleDir,
        secrets,
        env: {
          ...env,
          ANSIBLE_CONFIG: resolve(ansibleDir, 'ansible.cfg'),
          ANSIBLE_NOCOLOR: '1',
          ANSIBLE_RETRY_FILES_ENABLED: '0',
          ...ansibleEnvironment(env, 'ssh', admin),
          ANSIBLE_SSH_CONTROL_PATH_DIR: dir.file('cp'),
        },
      },
    );
    if (r.code !== 0) {
      log.error(`bootstrap failed (ansible-playbook exit ${r.code}): see the failed task above.`);
      return false;
    }
    say(recapSummary(r.stdout, options.check ?? false));
    say(`Next: nx run ${context.projectName}:doctor --configuration=${profile.name}`);
    return true;
  });
}
