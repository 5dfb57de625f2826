/**
 * A deploy or rollback, Kamal-style: decide the whole release first (the plan: pure core), then
 * carry it out once on the host (conveyor-host.py, through Ansible, or one SSH command for a fast
 * rollback), then report and notify.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { extraVars, inventoryFor, playbookCommand, SshSettings } from '../../../core/ansible';
import { ansibleEnvironment } from '../../../core/ssh-options';
import {
  helperCommand,
  HostEvent,
  hostHelperPath,
  hostResult,
  onHost,
  parseHostEvents,
} from '../../../core/host';
import { imageRef, TOOL_ENV } from '../../../core/names';
import { noticeText, Notice, Outcome } from '../../../core/notify';
import { failureMessage, lockHeldMessage } from '../../../core/outcome';
import { checkPortPlan, validatePort } from '../../../core/ports';
import { loadProfile, Profile } from '../../../core/profile';
import { redact, secretValues } from '../../../core/redact';
import { planRelease, ReleasePlan, runFiles } from '../../../core/release-plan';
import { follow } from '../../../shell/follow';
import { log } from '../../../shell/log';
import { run } from '../../../shell/run';
import { sendTelegram } from '../../../shell/telegram';
import { PrivateDir } from '../../../shell/temp';
import type { DeployExecutorSchema } from '../schema';
import { deployer, explainSshFailure, sshSettings, whereText } from './connection';
import { releaseSecrets } from './secrets';
import { deployTarget, rollbackTarget, Target } from './target';

export interface ReleaseRequest extends Omit<DeployExecutorSchema, 'tag'> {
  tag?: string;
  action: 'deploy' | 'rollback';
  app: string;
  workspaceRoot: string;
}

/** The host helper shipped with the plugin (src/host/conveyor-host.py). */
export const HOST_HELPER_FILE = join(__dirname, '..', '..', '..', 'host', 'conveyor-host.py');

/** A port from the environment (BACKEND_PORT, ...) over the target's option, through the one port check. */
function port(value: string | undefined, fallback: number | undefined, name: string) {
  if (value === undefined || value === '') return fallback;
  return validatePort(value, name);
}

interface Context {
  req: ReleaseRequest;
  env: NodeJS.ProcessEnv;
  /** Values to redact from every line printed (the app's secrets join them once read). */
  secrets: string[];
  dir: PrivateDir;
  profile: Profile;
  ssh: SshSettings;
  where: string;
  backendPort: number;
  frontendPort?: number;
  ansibleDir: string;
  composeSrc: string;
  deployer: string;
}

function prepare(
  req: ReleaseRequest,
  env: NodeJS.ProcessEnv,
  dir: PrivateDir,
  secrets: string[],
): Context {
  const profile = loadProfile(req.workspaceRoot, req.profile ?? 'local', env);
  const backendPort = port(env[TOOL_ENV.backendPort], req.backendPort, TOOL_ENV.backendPort);
  if (backendPort === undefined) throw new Error('backendPort is not set for this target.');
  const frontendPort =
    req.frontendPort === undefined
      ? undefined
      : port(env[TOOL_ENV.frontendPort], req.frontendPort, TOOL_ENV.frontendPort);
  const clash = checkPortPlan(backendPort, frontendPort);
  if (clash) throw new Error(clash);
  const ansibleDir = resolve(req.workspaceRoot, req.ansibleDir);
  const composeSrc = resolve(req.workspaceRoot, req.composeFile);
  for (const [what, path] of [
    ['playbook', join(ansibleDir, 'playbook.yml')],
    ['inventory', join(ansibleDir, inventoryFor(profile.name))],
    ['compose file', composeSrc],
  ]) {
    if (!existsSync(path))
      throw new Error(`The ${what} ${path} does not exist (needed for profile "${profile.name}").`);
  }
  return {
    req,
    env,
    secrets,
    dir,
    profile,
    ssh: sshSettings(profile, env, dir),
    where: whereText(profile, req.app),
    backendPort,
    frontendPort,
    ansibleDir,
    composeSrc,
    deployer: deployer(env),
  };
}

function makePlan(ctx: Context, target: Target, appSecrets?: Record<string, string>): ReleasePlan {
  const { req, env } = ctx;
  const composeEnv: Record<string, string> = {};
  for (const name of req.composeEnv ?? []) if (env[name]) composeEnv[name] = env[name] as string;
  return planRelease({
    runId: `${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`,
    action: req.action,
    app: req.app,
    profile: ctx.profile,
    deployer: ctx.deployer,
    backendPort: ctx.backendPort,
    frontendPort: ctx.frontendPort,
    target: target.release,
    expectLive: target.expectLive,
    force: req.force ?? false,
    healthTimeout: req.healthTimeout ?? 60,
    lockTimeout: req.lockTimeout ?? 120,
    engineCommand: req.loginCommand ?? 'docker',
    healthPath: req.healthPath,
    versionCheck: req.versionCheck,
    checks: (req.readyChecks ?? []).map((c) => ({
      port: port(c.env ? env[c.env] : undefined, c.port, c.env ?? 'readyChecks.port') as number,
      path: c.path,
    })),
    composeEnv,
    strategy: req.strategy,
    secrets: appSecrets,
  });
}

function printPlan(ctx: Context, plan: ReleasePlan, say: (t: string) => void) {
  say(`Plan for ${plan.action} of ${plan.app} (profile ${plan.env}), nothing will change:`);
  say(`  host:    ${ctx.where}`);
  for (const [component, image] of Object.entries(plan.target.images)) {
    say(
      `  image:   ${imageRef(ctx.profile.registry, ctx.profile.registry_namespace, plan.app, component as 'backend', plan.target.tag)} (${image?.digest})`,
    );
  }
  say(`  commit:  ${plan.target.git_sha || 'unknown'}`);
  say(
    `  run:     (cd ${ctx.req.ansibleDir} && ${playbookCommand(plan.env, '<plan vars>').argv.join(' ')})`,
  );
  say(
    `  on host: lock; pull by digest and check each image; ${plan.strategy === 'blue-green' ? 'start the idle colour; gate; switch the proxy; check through it' : 'replace the containers; gate'}; record; unlock`,
  );
}

/** A blue-green rollback while the previous colour still runs: one SSH command, no Ansible. */
async function switchBack(ctx: Context, plan: ReleasePlan): Promise<HostEvent | undefined> {
  const r = await run(
    helperCommand(ctx.profile, plan.app, ctx.ssh, 'switch-back', [], JSON.stringify(plan)),
    { secrets: ctx.secrets, stream: false },
  );
  return hostResult(parseHostEvents(r.stdout));
}

async function runPlaybook(
  ctx: Context,
  plan: ReleasePlan,
  appSecrets?: Record<string, string>,
): Promise<{ result?: HostEvent; output: string }> {
  const files = runFiles(plan.app, ctx.profile, plan.run_id);
  const resultFile = ctx.dir.file('result.jsonl');
  const vars = extraVars({
    app: plan.app,
    profile: ctx.profile,
    planFile: ctx.dir.write('plan.json', JSON.stringify(plan, null, 2)),
    hostPlan: files.plan,
    composeSrc: ctx.composeSrc,
    hostCompose: files.compose,
    hostHelper: HOST_HELPER_FILE,
    resultFile,
    ssh: ctx.ssh,
  });
  // The host's progress, line by line as it happens (the playbook reports its task only at the end).
  const started = Date.now();
  let followed = 0;
  const follower = follow(
    onHost(ctx.profile, ctx.ssh, [
      'sh',
      '-c',
      // The run's log appears once the helper this playbook installs has started the plan.
      'i=0; until [ -e "$2/.conveyor/runs/$3.log" ] || [ $i -gt 1200 ]; do sleep 0.1; i=$((i+1)); done; exec "$1" follow "$2" "$3"',
      'follow',
      hostHelperPath(ctx.profile, plan.app),
      plan.app_path,
      plan.run_id,
    ]),
    (line) => {
      const event = parseHostEvents(line)[0];
      if (!event || event.event === 'result') return;
      if (event.event === 'warning') {
        log.warn(redact(`host: ${String(event['what'])}`, ctx.secrets));
        return;
      }
      followed++;
      log.info(redact(progressLine(event, (Date.now() - started) / 1000), ctx.secrets));
    },
  );
  const r = await run(playbookCommand(plan.env, ctx.dir.write('vars.json', JSON.stringify(vars))), {
    cwd: ctx.ansibleDir,
    secrets: ctx.secrets,
    env: {
      ...ctx.env,
      ANSIBLE_CONFIG: join(ctx.ansibleDir, 'ansible.cfg'),
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_RETRY_FILES_ENABLED: '0',
      // Conveyor's own ssh options come first and decide host key checking (see ansibleEnvironment).
      ...ansibleEnvironment(ctx.env, ctx.profile.connection, ctx.ssh),
      // A fresh SSH control socket per run: this run's key and host check are what authenticate.
      ANSIBLE_SSH_CONTROL_PATH_DIR: ctx.dir.file('cp'),
      // The playbook hands them to the host helper on stdin (no_log).
      ...(appSecrets ? { CONVEYOR_RELEASE_SECRETS: JSON.stringify(appSecrets) } : {}),
    },
  });
  await follower.stop();
  const events = existsSync(resultFile) ? parseHostEvents(readFileSync(resultFile, 'utf8')) : [];
  if (!followed)
    for (const e of events)
      if (e.event === 'warning') log.warn(redact(`host: ${String(e['what'])}`, ctx.secrets));
      else if (e.event !== 'result') log.info(redact(progressLine(e), ctx.secrets));
  return { result: hostResult(events), output: r.output };
}

/** One line per step on the host, e.g. `  host [2.4s] start colour=blue`. */
function progressLine(e: HostEvent, seconds?: number): string {
  const { event, phase, ...rest } = e;
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const at = seconds === undefined ? '' : ` [${seconds.toFixed(1)}s]`;
  return `  host${at} ${event === 'phase' ? String(phase) : event}${fields ? ` ${fields}` : ''}`;
}

export async function runRelease(req: ReleaseRequest): Promise<{ success: boolean }> {
  const env = process.env;
  const secrets: string[] = [...secretValues(env)];
  const started = Date.now();
  const dir = new PrivateDir('conveyor-deploy-');
  const say = (text: string) => log.info(redact(text, secrets));
  let notice: Notice | undefined;
  try {
    const ctx = prepare(req, env, dir, secrets);
    if (req.breakLock && !req.dryRun) await breakLock(ctx, say);
    // The app's secrets, read before anything asks the host: their values are redacted from
    // every line printed from here on.
    const appSecrets = await releaseSecrets(ctx);
    if (appSecrets) ctx.secrets.push(...Object.values(appSecrets).filter((v) => v.length >= 4));
    const target = req.action === 'deploy' ? await deployTarget(ctx) : await rollbackTarget(ctx);
    const plan = makePlan(ctx, target, appSecrets);
    if (req.dryRun) {
      printPlan(ctx, plan, say);
      return { success: true };
    }
    const base = (): Omit<Notice, 'tag' | 'outcome'> => ({
      app: req.app,
      environment: plan.env,
      action: req.action,
      seconds: (Date.now() - started) / 1000,
      deployer: ctx.deployer,
    });

    let result: HostEvent | undefined;
    let output = '';
    let fast = false;
    if (req.action === 'rollback' && plan.strategy === 'blue-green') {
      result = await switchBack(ctx, plan);
      if (result?.status === 'ok' || result?.status === 'noop' || result?.status === 'lock-held')
        fast = true;
      else
        say(
          `No quick switch back (${String(result?.['reason'] ?? 'no answer from the host helper')}): running the full rollback.`,
        );
    }
    if (!fast) {
      say(`${req.action} ${req.app} ${plan.target.tag} → ${ctx.where}`);
      ({ result, output } = await runPlaybook(ctx, plan, appSecrets));
    }

    const status = result?.status;
    if (status === 'ok' || status === 'noop') {
      const live = String(result?.['live'] || plan.target.tag);
      const previous = String(result?.['previous_tag'] ?? '');
      const outcome: Outcome = status;
      notice = { ...base(), tag: live, outcome, live, previous: previous || undefined };
      say(
        status === 'noop'
          ? `${live} is already live and healthy on ${plan.env}: nothing to do (use --force to roll out again).`
          : `${req.action} done: ${live} is live on ${plan.env} (previous: ${previous || 'none'}) in ${notice.seconds.toFixed(1)}s` +
              (fast
                ? '; its colour was still running, so the proxy switched back (no pull, no start).'
                : '.'),
      );
      return { success: true };
    }
    let message: string;
    if (status === 'lock-held') {
      message = lockHeldMessage(
        ctx.where,
        { holder: result?.['holder'], alive: result?.['alive'], pid: result?.['pid'] },
        req.app,
        plan.env,
      );
      notice = { ...base(), tag: plan.target.tag, outcome: 'failed', error: message };
    } else if (status === 'failed') {
      const logs = String(result?.['logs'] ?? '');
      if (logs && !result?.['restored']) say(`Logs of the failed release:\n${logs}`);
      message = failureMessage(req.action, plan.strategy, {
        tag: plan.target.tag,
        error: String(result?.['error'] ?? ''),
        live: String(result?.['live'] ?? ''),
        previous_tag: String(result?.['previous_tag'] ?? ''),
        restored: Boolean(result?.['restored']),
      });
      notice = {
        ...base(),
        tag: plan.target.tag,
        outcome: result?.['restored'] ? 'rolled-back' : 'failed',
        live: String(result?.['live'] ?? ''),
        error: String(result?.['error'] ?? ''),
      };
    } else {
      // Once the plan was being carried out, a lost connection does not stop it: the host finishes on its own.
      const reached = output.includes('TASK [Carry out the plan]');
      message =
        (reached ? undefined : explainSshFailure(output, ctx.profile)) ??
        'the host helper gave no result (the connection may have dropped: a release that started goes on on the host). ' +
          `See nx run ${req.app}:status --configuration=${plan.env}.`;
      notice = { ...base(), tag: plan.target.tag, outcome: 'failed', error: message };
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

async function breakLock(ctx: Context, say: (t: string) => void) {
  const r = await run(
    helperCommand(ctx.profile, ctx.req.app, ctx.ssh, 'break-lock', [ctx.deployer]),
    {
      secrets: ctx.secrets,
      stream: false,
    },
  );
  const result = hostResult(parseHostEvents(r.stdout));
  if (!result)
    throw new Error(
      `--breakLock: the host helper gave no answer (exit ${r.code}): ${r.output.trim().slice(-300)}`,
    );
  if (result.status === 'lock-held')
    throw new Error(
      `--breakLock refused: the lock on ${ctx.where} is held by ${String(result['holder'])}, which is alive. ${String(result['message'] ?? '')}`,
    );
  say(
    result['broken'] ? `Broke the lock held by ${String(result['holder'])}.` : 'The lock was free.',
  );
}
