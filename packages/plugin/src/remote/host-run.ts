/**
 * Carrying plans out on hosts: through the playbook (one run for a batch of hosts, each with its
 * own plan), or one SSH command per host for a fast rollback; the environment's lock for several
 * hosts; each host's progress printed as it happens.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { extraVars, playbookCommand, SshSettings } from '../core/remote/ansible';
import type { DeployHost } from '../core/release/deploy-model';
import {
  HostEvent,
  hostHelperPath,
  hostResult,
  onHost,
  parseHostEvents,
} from '../core/remote/host';
import type { Profile } from '../core/config/profile';
import { redact } from '../core/config/redact';
import { ReleasePlan, runFiles } from '../core/release/release-plan';
import { ansibleEnvironment } from '../core/remote/ssh-options';
import { follow } from '../shell/follow';
import { log } from '../shell/log';
import { run } from '../shell/run';
import type { PrivateDir } from '../shell/temp';
import { askHelper } from './helper';
import type { HostCheckResult } from './check-host';
import { canReleaseDirectly, Gate, installHelper, releaseDirectly, shippedHelper } from './direct';
import { spawn } from 'node:child_process';

/**
 * The host helper shipped with the plugin: the zipapp src/host/conveyor-host.pyz, built from the
 * package src/host/conveyor_host by the plugin's build (and by its unit tests' global setup).
 */
export const HOST_HELPER_FILE = join(__dirname, '..', 'host', 'conveyor-host.pyz');

export interface RunContext {
  app: string;
  env: NodeJS.ProcessEnv;
  secrets: string[];
  dir: PrivateDir;
  profile: Profile;
  ssh: SshSettings;
  ansibleDir: string;
  composeSrc: string;
  /** Several hosts: each line printed names its host. */
  fleet: boolean;
  /** A direct release checks its host first, over the same connection. */
  gate?: Gate;
  /** Every event of a host's release as it comes (gate.e2e answers the helper's browser-gate). */
  onEvent?: (host: DeployHost, plan: ReleasePlan, e: HostEvent) => void;
}

export interface HostOutcome {
  host: DeployHost;
  plan: ReleasePlan;
  result?: HostEvent;
  /** The playbook's or the SSH command's output (to explain an SSH failure). */
  output: string;
  /** The helper started carrying the plan out (a lost connection after that does not stop it). */
  reached: boolean;
  fast?: boolean;
  /** The host's checks failed (a gated deploy): nothing was changed there. */
  notReady?: HostCheckResult;
}

/** One line per step on a host, e.g. `  host [2.4s] start color=blue`. */
export function progressLine(e: HostEvent, who: string, seconds?: number): string {
  const { event, phase, ...rest } = e;
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const at = seconds === undefined ? '' : ` [${seconds.toFixed(1)}s]`;
  return `  ${who}${at} ${event === 'phase' ? String(phase) : event}${fields ? ` ${fields}` : ''}`;
}

function printEvent(ctx: RunContext, who: string, e: HostEvent, seconds?: number) {
  if (e.event === 'result') return;
  if (e.event === 'warning') log.warn(redact(`${who}: ${String(e['what'])}`, ctx.secrets));
  else log.info(redact(progressLine(e, who, seconds), ctx.secrets));
}

/** A blue-green rollback while the previous colour still runs: one SSH command, no Ansible. */
export async function switchBack(ctx: RunContext, host: DeployHost, plan: ReleasePlan) {
  const call = { profile: host.profile, app: plan.app, ssh: ctx.ssh, secrets: ctx.secrets };
  return (await askHelper(call, 'switch-back', ['-'], JSON.stringify(plan))).result;
}

function playbookEnv(ctx: RunContext, appSecrets?: Record<string, string>): NodeJS.ProcessEnv {
  return {
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
  };
}

/** Installs the helper on every host (where its hash differs): nothing of a release changes. */
async function installHelpers(ctx: RunContext, hosts: DeployHost[]): Promise<void> {
  const helper = shippedHelper(HOST_HELPER_FILE);
  await Promise.all(hosts.map((h) => installHelper(ctx, h.profile, helper)));
}

/**
 * Carries out each host's plan: over one SSH command per host when the playbook would do no more
 * (canReleaseDirectly), else through the playbook (Ansible hooks, an edited playbook, the
 * monitoring stack's own playbook).
 */
export async function carryOut(
  ctx: RunContext,
  work: { host: DeployHost; plan: ReleasePlan }[],
  appSecrets?: Record<string, string>,
): Promise<HostOutcome[]> {
  if (!canReleaseDirectly(ctx.ansibleDir)) return runPlaybook(ctx, work, appSecrets);
  return releaseDirectly(
    ctx,
    work,
    HOST_HELPER_FILE,
    appSecrets,
    (host, e, seconds) => {
      printEvent(ctx, ctx.fleet ? host.name : 'host', e, seconds);
      const plan = work.find((w) => w.host.name === host.name)?.plan;
      if (plan) ctx.onEvent?.(host, plan, e);
    },
    ctx.gate,
  );
}

/** Runs the playbook once for these hosts, each carrying out its own plan. */
export async function runPlaybook(
  ctx: RunContext,
  work: { host: DeployHost; plan: ReleasePlan }[],
  appSecrets?: Record<string, string>,
): Promise<HostOutcome[]> {
  const hosts: Parameters<typeof extraVars>[0]['hosts'] = {};
  for (const { host, plan } of work) {
    const files = runFiles(plan.app, host.profile, plan.run_id);
    hosts[host.name] = {
      appPath: plan.app_path,
      planFile: ctx.dir.write(`plan-${host.name}.json`, JSON.stringify(plan, null, 2)),
      hostPlan: files.plan,
      hostCompose: files.compose,
      resultFile: ctx.dir.file(`result-${host.name}.jsonl`),
    };
  }
  const vars = extraVars({
    app: ctx.app,
    profile: ctx.profile,
    hosts,
    composeSrc: ctx.composeSrc,
    hostHelper: HOST_HELPER_FILE,
    ssh: ctx.ssh,
  });
  // Each host's progress, line by line as it happens (the playbook reports a task only at its end).
  const started = Date.now();
  const followed = new Set<string>();
  const followers = work.map(({ host, plan }) =>
    follow(
      onHost(host.profile, ctx.ssh, [
        'sh',
        '-c',
        // The run's log appears once the helper this playbook installs has started the plan.
        'i=0; until [ -e "$2/.conveyor/runs/$3.log" ] || [ $i -gt 1200 ]; do sleep 0.1; i=$((i+1)); done; exec "$1" follow "$2" "$3"',
        'follow',
        hostHelperPath(host.profile, plan.app),
        plan.app_path,
        plan.run_id,
      ]),
      (line) => {
        const event = parseHostEvents(line)[0];
        if (!event) return;
        followed.add(host.name);
        printEvent(ctx, ctx.fleet ? host.name : 'host', event, (Date.now() - started) / 1000);
        ctx.onEvent?.(host, plan, event);
      },
    ),
  );
  const limit = work.map((w) => w.host.name).join(',');
  const command = playbookCommand(
    ctx.profile.name,
    ctx.dir.write('vars.json', JSON.stringify(vars)),
  );
  if (ctx.fleet) command.argv.push('--limit', limit);
  const r = await run(command, {
    cwd: ctx.ansibleDir,
    secrets: ctx.secrets,
    env: playbookEnv(ctx, appSecrets),
  });
  await Promise.all(followers.map((f) => f.stop()));
  return work.map(({ host, plan }) => {
    const file = hosts[host.name].resultFile;
    const events = existsSync(file) ? parseHostEvents(readFileSync(file, 'utf8')) : [];
    if (!followed.has(host.name))
      for (const e of events) printEvent(ctx, ctx.fleet ? host.name : 'host', e);
    const reached = r.output.includes('TASK [Carry out the plan]');
    return { host, plan, result: hostResult(events), output: r.output, reached };
  });
}

export interface Holds {
  release(): Promise<void>;
}

/**
 * The environment's lock on every host before any host changes (several hosts): the helper is
 * installed on each, then holds the lock while this process keeps its connection open. Fails,
 * releasing what it took, when a host's lock is held by another release.
 */
export async function holdAll(
  ctx: RunContext,
  hosts: DeployHost[],
  runId: string,
  who: string,
  waitSeconds: number,
): Promise<Holds> {
  await installHelpers(ctx, hosts);
  const sessions = hosts.map((host) => {
    const command = onHost(host.profile, ctx.ssh, [
      hostHelperPath(host.profile, ctx.app),
      'hold',
      `${host.profile.deploy_path.replace(/\/+$/, '')}/${ctx.app}`,
      runId,
      who,
      String(waitSeconds),
    ]);
    const [bin, ...args] = command.argv;
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    const held = new Promise<HostEvent | undefined>((resolve) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString('utf8');
        const events = parseHostEvents(out);
        const first = events.find((e) => e.event === 'held' || e.event === 'result');
        if (first) resolve(first);
      });
      child.on('close', () => resolve(hostResult(parseHostEvents(out))));
      child.on('error', () => resolve(undefined));
    });
    const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
    return { host, child, held, closed };
  });
  const release = async () => {
    for (const s of sessions) s.child.stdin.end();
    await Promise.all(sessions.map((s) => s.closed));
  };
  const answers = await Promise.all(sessions.map((s) => s.held));
  const refused = answers.findIndex((a) => a?.event !== 'held');
  if (refused >= 0) {
    await release();
    const a = answers[refused];
    const host = sessions[refused].host.name;
    throw new Error(
      a?.status === 'lock-held'
        ? `The lock of ${host} is held by ${String(a['holder'])}${a['alive'] ? ' (still running: wait for it and deploy again)' : ''}; no host was changed.`
        : `Could not take the lock of ${host} (the helper is installed by a first deploy to that host alone, or SSH failed); no host was changed.`,
    );
  }
  return { release };
}
