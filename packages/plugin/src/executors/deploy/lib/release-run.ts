/**
 * A deploy or rollback, Kamal-style: decide everything first (pure core), then
 * check the registry, then run the playbook once, then report and notify.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import {
  DeployAction,
  fastRollbackCommand,
  deployPath,
  extraVars,
  inventoryFor,
  playbookCommand,
  PlaybookInput,
  SshSettings,
} from '../../../core/ansible';
import {
  APP_ENV,
  Component,
  imageRef,
  registryPath,
  SECRET_ENV,
  sshVars,
  TOOL_ENV,
} from '../../../core/names';
import { noticeText, Outcome } from '../../../core/notify';
import { failureMessage, PlaybookOutcome } from '../../../core/outcome';
import { loadProfile, Profile } from '../../../core/profile';
import { redact, secretValues } from '../../../core/redact';
import { parsePushRecord, PushRecord, pushRecordPath } from '../../../core/release';
import { resolveGitSha, resolveTag, validateTag } from '../../../core/tags';
import { gitShortSha } from '../../../shell/git';
import { log } from '../../../shell/log';
import { RegistryClient } from '../../../shell/registry-client';
import { run } from '../../../shell/run';
import { sendTelegram } from '../../../shell/telegram';
import { PrivateDir } from '../../../shell/temp';
import type { DeployExecutorSchema } from '../schema';

export interface ReleaseRequest extends Omit<DeployExecutorSchema, 'tag'> {
  tag?: string;
  action: DeployAction;
  app: string;
  workspaceRoot: string;
}

function port(
  value: string | undefined,
  fallback: number | undefined,
  name: string,
): number | undefined {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new Error(`${name} must be a port number, got "${value}".`);
  return n;
}

function readPushRecord(root: string, app: string, profile: string): PushRecord | undefined {
  const file = pushRecordPath(app, profile);
  const path = join(root, file);
  return existsSync(path) ? parsePushRecord(readFileSync(path, 'utf8'), file) : undefined;
}

function deployer(env: NodeJS.ProcessEnv): string {
  if (env['CONVEYOR_DEPLOYER']) return env['CONVEYOR_DEPLOYER'];
  if (env['GITHUB_ACTOR']) return `${env['GITHUB_ACTOR']} (GitHub Actions)`;
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return `${user}@${hostname()}`;
}

/** Which tag a deploy puts live: --tag, else what build-push recorded, else IMAGE_TAG, else HEAD. */
async function deployTag(
  req: ReleaseRequest,
  record: PushRecord | undefined,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  if (req.tag) return validateTag(req.tag, '--tag');
  if (record) return record.tag;
  return resolveTag({
    envImageTag: env[APP_ENV.imageTag],
    gitSha: resolveGitSha(env[APP_ENV.gitSha], await gitShortSha(req.workspaceRoot)),
  });
}

function sshSettings(profile: Profile, env: NodeJS.ProcessEnv, dir: PrivateDir): SshSettings {
  if (profile.connection !== 'ssh') return {};
  const ssh: SshSettings = {};
  const key = env[SECRET_ENV.sshKeyB64];
  if (key) {
    const decoded = Buffer.from(key, 'base64').toString('utf8');
    if (!decoded.includes('PRIVATE KEY'))
      throw new Error(
        `${SECRET_ENV.sshKeyB64} does not decode to a private key (base64 -w0 of the key file).`,
      );
    ssh.keyFile = dir.write('id_deploy', decoded.endsWith('\n') ? decoded : `${decoded}\n`);
  }
  const known = env[sshVars(profile.name).knownHosts];
  if (known)
    ssh.knownHostsFile = dir.write('known_hosts', known.endsWith('\n') ? known : `${known}\n`);
  else {
    log.warn(
      `${sshVars(profile.name).knownHosts} is not set: the host key of ${profile.ssh_host} is accepted on first use ` +
        '(StrictHostKeyChecking=accept-new) and checked after that. Set it to pin the key.',
    );
  }
  return ssh;
}

async function checkImagesInRegistry(
  profile: Profile,
  app: string,
  tag: string,
  components: Component[],
  env: NodeJS.ProcessEnv,
) {
  const user = env[SECRET_ENV.registryUser];
  const password = env[SECRET_ENV.registryPass];
  const client = new RegistryClient(
    profile.registry,
    user && password ? { user, password } : undefined,
  );
  for (const component of components) {
    const manifest = await client.getManifest(
      registryPath(profile.registry_namespace, app, component),
      tag,
    );
    if (!manifest) {
      throw new Error(
        `Image ${imageRef(profile.registry, profile.registry_namespace, app, component, tag)} is not in the registry. ` +
          `Run nx run ${app}:build-push --configuration=${profile.name} first, or pass --tag of a pushed release. The host was not touched.`,
      );
    }
  }
}

function explainAnsibleFailure(output: string, profile: Profile): string {
  if (/UNREACHABLE!/.test(output)) {
    if (/Permission denied|publickey/i.test(output)) {
      return `SSH login to ${profile.ssh_user}@${profile.ssh_host}:${profile.ssh_port} was refused (check the user and ${SECRET_ENV.sshKeyB64}).`;
    }
    if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(output)) {
      return `The host key of ${profile.ssh_host} does not match ${sshVars(profile.name).knownHosts}.`;
    }
    return `Host ${profile.ssh_host}:${profile.ssh_port} is unreachable over SSH (check ${sshVars(profile.name).host} and ${sshVars(profile.name).port}).`;
  }
  const msg = /"msg":\s*"([^"]{1,400})/.exec(output);
  return msg ? msg[1] : 'ansible-playbook failed; see its output above.';
}

export async function runRelease(req: ReleaseRequest): Promise<{ success: boolean }> {
  const env = process.env;
  const secrets = secretValues(env);
  const started = Date.now();
  const dir = new PrivateDir('conveyor-deploy-');
  const say = (text: string) => log.info(redact(text, secrets));
  let notice: Parameters<typeof noticeText>[0] | undefined;
  try {
    const profileName = req.profile ?? 'local';
    const profile = loadProfile(req.workspaceRoot, profileName, env);
    const record = readPushRecord(req.workspaceRoot, req.app, profileName);
    const tag =
      req.action === 'deploy'
        ? await deployTag(req, record, env)
        : req.tag
          ? validateTag(req.tag, '--to')
          : '';
    const backendPort = port(
      env[TOOL_ENV.backendPort],
      req.backendPort,
      TOOL_ENV.backendPort,
    ) as number;
    const frontendPort =
      req.frontendPort === undefined
        ? undefined
        : port(env[TOOL_ENV.frontendPort], req.frontendPort, TOOL_ENV.frontendPort);
    const components: Component[] =
      frontendPort === undefined ? ['backend'] : ['backend', 'frontend'];
    const ansibleDir = resolve(req.workspaceRoot, req.ansibleDir);
    const composeSrc = resolve(req.workspaceRoot, req.composeFile);
    for (const [what, path] of [
      ['playbook', join(ansibleDir, 'playbook.yml')],
      ['inventory', join(ansibleDir, inventoryFor(profileName))],
      ['compose file', composeSrc],
    ]) {
      if (!existsSync(path))
        throw new Error(
          `The ${what} ${path} does not exist (needed for profile "${profileName}").`,
        );
    }
    const gitShas: Record<string, string> = {};
    if (record?.git_sha) gitShas[record.tag] = record.git_sha;
    const registryLogin = Boolean(env[SECRET_ENV.registryUser] && env[SECRET_ENV.registryPass]);
    const input: PlaybookInput = {
      app: req.app,
      action: req.action,
      tag,
      force: req.force ?? false,
      profile,
      backendPort,
      frontendPort,
      healthTimeout: req.healthTimeout ?? 60,
      lockTimeout: req.lockTimeout ?? 120,
      composeSrc,
      deployer: deployer(env),
      registryLogin,
      loginCommand: req.loginCommand ?? 'docker',
      gitShas,
      resultFile: dir.file('result.json'),
      ssh: sshSettings(profile, env, dir),
    };
    const target =
      profile.connection === 'local'
        ? 'this machine (local connection)'
        : `${profile.ssh_user}@${profile.ssh_host}:${profile.ssh_port}`;
    const where = `${target}:${deployPath(profile, req.app)}`;
    const varsFile = dir.write('vars.json', JSON.stringify(extraVars(input), null, 2));
    const command = playbookCommand(profileName, varsFile);

    if (req.dryRun) {
      say(`Plan for ${req.action} of ${req.app} (profile ${profileName}), nothing will change:`);
      say(`  host:    ${where}`);
      for (const c of components) {
        say(
          `  image:   ${tag ? imageRef(profile.registry, profile.registry_namespace, req.app, c, tag) : `${c}: the previous release on the host`}`,
        );
      }
      say(`  run:     (cd ${req.ansibleDir} && ${command.argv.join(' ')})`);
      say(
        `  on host: lock; upload compose + .env; ${registryLogin ? 'registry login; ' : ''}${profile.compose_command} pull; ${profile.compose_command} up -d; ` +
          `GET http://127.0.0.1:${backendPort}/health until ${input.healthTimeout}s; record; unlock`,
      );
      return { success: true };
    }

    const noticeBase = () => ({
      app: req.app,
      environment: profileName,
      action: req.action,
      seconds: (Date.now() - started) / 1000,
      deployer: input.deployer,
    });
    /** Reports a release that is live (or already was), and queues its notice. */
    const succeeded = (o: PlaybookOutcome, how = '') => {
      const base = noticeBase();
      const live = o.live ?? tag;
      const status: Outcome = o.status === 'noop' ? 'noop' : 'ok';
      notice = { ...base, tag: live, outcome: status, live, previous: o.previous_tag || undefined };
      say(
        status === 'noop'
          ? `${live} is already live and healthy on ${profileName}: nothing to do (use --force to roll out again).`
          : `${req.action} done: ${live} is live on ${profileName} (previous: ${o.previous_tag || 'none'}) ` +
              `in ${base.seconds.toFixed(1)}s${how}.`,
      );
      return { success: true };
    };

    if (req.action === 'rollback' && profile.strategy === 'blue-green') {
      // The previous colour may still run (it stops after its drain time): then going back is a switch.
      const fast = await run(
        fastRollbackCommand({
          profile,
          app: req.app,
          deployer: input.deployer,
          backendPort,
          hasFrontend: frontendPort !== undefined,
          to: tag,
          ssh: input.ssh,
        }),
        { secrets, stream: false },
      );
      let switched: PlaybookOutcome & { reason?: string } = {};
      try {
        switched = JSON.parse(fast.stdout.trim().split('\n').pop() || '{}');
      } catch {
        switched = {};
      }
      if (fast.code === 0 && switched.status === 'ok') {
        return succeeded(
          switched,
          '; its colour was still running, so the proxy switched back (no pull, no start)',
        );
      }
      say(
        `No quick switch back (${switched.reason ?? (switched.status || 'helper not installed yet')}): running the full rollback.`,
      );
    }

    if (tag) await checkImagesInRegistry(profile, req.app, tag, components, env);
    say(`${req.action} ${req.app} ${tag || '(previous release)'} → ${where}`);
    const result = await run(command, {
      cwd: ansibleDir,
      secrets,
      env: {
        ...env,
        ANSIBLE_CONFIG: join(ansibleDir, 'ansible.cfg'),
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_RETRY_FILES_ENABLED: '0',
        // A fresh SSH control socket per run: this run's key and host check are what authenticate.
        ANSIBLE_SSH_CONTROL_PATH_DIR: dir.file('cp'),
      },
    });
    const outcome: PlaybookOutcome = existsSync(input.resultFile)
      ? JSON.parse(readFileSync(input.resultFile, 'utf8'))
      : {};
    const base = noticeBase();

    if (result.code === 0 && (outcome.status === 'ok' || outcome.status === 'noop')) {
      return succeeded(outcome);
    }

    let message: string;
    if (outcome.status === 'lock-held') {
      message = `Another deploy holds the lock on ${where}: ${outcome.holder || 'unknown holder'}. Waited ${input.lockTimeout}s.`;
      notice = { ...base, tag, outcome: 'failed', error: message };
    } else if (outcome.status === 'failed') {
      if (outcome.logs && !outcome.restored) say(`Logs of the failed release:\n${outcome.logs}`);
      message = failureMessage(req.action, profile.strategy, outcome);
      notice = {
        ...base,
        tag: outcome.tag ?? tag,
        outcome: outcome.restored ? 'rolled-back' : 'failed',
        live: outcome.live ?? '',
        error: outcome.error,
      };
    } else {
      message = explainAnsibleFailure(result.output, profile);
      notice = { ...base, tag, outcome: 'failed', error: message };
    }
    log.error(redact(`${req.action} failed: ${message}`, secrets));
    return { success: false };
  } catch (error) {
    log.error(redact(`${req.action} failed: ${(error as Error).message}`, secrets));
    return { success: false };
  } finally {
    dir.cleanup();
    if (notice) {
      const sent = await sendTelegram(env, noticeText(notice));
      if (sent.warning) log.warn(redact(sent.warning, secrets));
    }
  }
}
