/**
 * A deploy or rollback, Kamal-style: decide the whole release first (the plan: pure core), then
 * carry it out once on the host (conveyor-host.pyz, through Ansible, or one SSH command for a fast
 * rollback), then report and notify.
 */
import { edgeUrl } from '../../../core/edge/edge';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { inventoryFor, playbookCommand, SshSettings } from '../../../core/remote/ansible';
import { batches } from '../../../core/release/fleet';
import { AppPorts, DeployHost, DeployModel, profileName } from '../../../core/release/deploy-model';
import { Component, imageRef } from '../../../core/config/names';
import { noticeText, Notice, Outcome } from '../../../core/release/notify';
import {
  failureMessage,
  fleetEndMessage,
  HostEnd,
  lockHeldMessage,
} from '../../../core/release/outcome';
import { loadProfile, Profile } from '../../../core/config/profile';
import { redact } from '../../../core/config/redact';
import type { HostStatus } from '../../../core/release/release';
import { planRelease, ReleasePlan, takeOverOf } from '../../../core/release/release-plan';
import { log } from '../../../shell/log';
import { canReleaseDirectly } from '../../../remote/direct';
import { hostHelperPath } from '../../../core/remote/host';
import { sendTelegram } from '../../../shell/telegram';
import { conveyorExecutor } from '../../../remote/executor';
import { PrivateDir } from '../../../shell/temp';
import type { DeployExecutorSchema } from '../schema';
import { deployer, explainSshFailure, sshSettings, whereText } from '../../../remote/connection';
import { checkHost, HostCheckResult, hostCheckInput } from '../../../remote/check-host';
import { askHelper, awaitRun, expectOk, readHostStatus } from '../../../remote/helper';
import { loadDeployModel } from '../../../remote/inventory';
import {
  holdAll,
  Holds,
  HostOutcome,
  RunContext,
  carryOut,
  switchBack,
} from '../../../remote/host-run';
import { releaseSecrets } from '../../../remote/secrets';
import {
  certificateHolder,
  holderFirst,
  readObtained,
  routeChallenges,
  withCertificate,
} from '../../../remote/shared-certificate';
import { deployTarget, rollbackTarget, Target } from './target';
import {
  checkMigrations,
  databasePlan,
  DatabasePlan,
  sentSecrets,
} from '../../../core/database/database-plan';
import { readMigrationFiles } from '../../../shell/migration-files';
import type { ExecutorContext } from '@nx/devkit';
import { browserTestsMissing } from '../../browser-tests';
import { browserGate, BrowserGate } from './browser-gate';

export interface ReleaseRequest extends Omit<DeployExecutorSchema, 'tag'> {
  tag?: string;
  action: 'deploy' | 'rollback';
  app: string;
  workspaceRoot: string;
  /** A pull request's preview (the preview executor), with the ports it takes. */
  preview?: { pr: number; ports: AppPorts };
  /** The deploy's Nx context: gate.e2e runs the app's browser tests from it. */
  context?: ExecutorContext;
}

interface Context {
  req: ReleaseRequest;
  /** What the target, profile, environment and inventory decided, once. */
  model: DeployModel;
  /** The host a plan is made for (the first host until hostContext picks one). */
  host: DeployHost;
  /** Several hosts: the environment lock's run id. */
  holdId?: string;
  env: NodeJS.ProcessEnv;
  /** Values to redact from every line printed (the app's secrets join them once read). */
  secrets: string[];
  dir: PrivateDir;
  profile: Profile;
  ports: AppPorts;
  ssh: SshSettings;
  where: string;
  ansibleDir: string;
  composeSrc: string;
  deployer: string;
  /** The app's database (an app whose deploy target names its migrations). */
  database?: DatabasePlan;
}

async function prepare(
  req: ReleaseRequest,
  env: NodeJS.ProcessEnv,
  dir: PrivateDir,
  secrets: string[],
): Promise<Context> {
  const profile = loadProfile(req.workspaceRoot, profileName(req), env);
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
  const model = await loadDeployModel(
    req.workspaceRoot,
    req.app,
    req,
    profile,
    env,
    secrets,
    req.preview,
  );
  // A preview deploys from its own folder: the profile it releases with is the model's.
  const releasing = req.preview ? model.profile : profile;
  const database = req.migrations ? await decideDatabase(req, releasing) : undefined;
  if (database?.kind === 'service' && model.hosts.length > 1)
    throw new Error(
      `${req.app} has ${model.hosts.length} hosts on ${profile.name}, and a database service runs on one host: give the profile database: managed (a Postgres every host reaches at the DATABASE_URL secret).`,
    );
  return {
    // With a database service on the host, the host makes DATABASE_URL: it is not read here.
    req: { ...req, secrets: sentSecrets(req.secrets ?? [], database?.kind) },
    database,
    model,
    host: model.hosts[0],
    env,
    secrets,
    dir,
    profile: releasing,
    ports: model.ports,
    ssh: sshSettings(profile, env, dir),
    where: whereText(releasing, req.app),
    ansibleDir,
    composeSrc,
    deployer: deployer(env),
  };
}

/**
 * The database's part of every plan: a deploy's migrations read from the workspace and checked
 * with Postgres's parser here, before any host is asked.
 */
async function decideDatabase(req: ReleaseRequest, profile: Profile): Promise<DatabasePlan> {
  const checked =
    req.action === 'deploy'
      ? await checkMigrations(readMigrationFiles(req.workspaceRoot, req.migrations as string))
      : undefined;
  return databasePlan({
    profile,
    action: req.action,
    checked,
    allowBreaking: req.allowBreakingMigration ?? false,
    preview: req.preview !== undefined,
  });
}

function makePlan(
  ctx: Context,
  target: Target,
  appSecrets: Record<string, string> | undefined,
  runId: string,
): ReleasePlan {
  const { req } = ctx;
  return planRelease({
    runId,
    action: req.action,
    model: ctx.model,
    host: ctx.host,
    holdId: ctx.holdId,
    deployer: ctx.deployer,
    target: target.release,
    expectLive: target.expectLive,
    takeOver: req.action === 'deploy' ? takeOverOf(req, ctx.profile, req.app) : undefined,
    force: req.force ?? false,
    secrets: appSecrets,
    database: ctx.database,
    browserGate: req.action === 'deploy' && Boolean(req.gate?.e2e),
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
    canReleaseDirectly(ctx.ansibleDir)
      ? `  run:     one SSH command: ${hostHelperPath(ctx.profile, plan.app)} release-bundle <helper hash> (plan, compose file, login and secrets on stdin)`
      : `  run:     (cd ${ctx.req.ansibleDir} && ${playbookCommand(plan.env, '<plan vars>').argv.join(' ')})`,
  );
  say(
    `  on host: lock; pull by digest and check each image; ${plan.strategy === 'blue-green' ? 'start the idle colour; gate; switch the proxy; check through it' : 'replace the containers; gate'}; record; unlock`,
  );
}

function hostContext(ctx: Context, host: DeployHost): Context {
  return {
    ...ctx,
    host,
    profile: host.profile,
    ports: host.ports,
    where: whereText(host.profile, ctx.req.app),
  };
}

function runContext(ctx: Context, fleet: boolean, say: Say): RunContext {
  const gate = gated(ctx)
    ? {
        input: (h: DeployHost) => hostCheckInput(ctx.model, h),
        onChecks: (h: DeployHost, check: HostCheckResult) => sayChecks(ctx, h, check, say),
      }
    : undefined;
  return {
    gate,
    app: ctx.req.app,
    env: ctx.env,
    secrets: ctx.secrets,
    dir: ctx.dir,
    profile: ctx.profile,
    ssh: ctx.ssh,
    ansibleDir: ctx.ansibleDir,
    composeSrc: ctx.composeSrc,
    fleet,
  };
}

const done = (o: HostOutcome) => o.result?.status === 'ok' || o.result?.status === 'noop';

/** Carries out one batch: fast switch-backs first (a rollback), then the playbook for the rest. */
async function releaseBatch(
  rc: RunContext,
  work: { host: DeployHost; plan: ReleasePlan }[],
  appSecrets: Record<string, string> | undefined,
  say: (t: string) => void,
): Promise<HostOutcome[]> {
  const outcomes: HostOutcome[] = [];
  const rest: typeof work = [];
  for (const w of work) {
    if (w.plan.action === 'rollback' && w.plan.strategy === 'blue-green') {
      const result = await switchBack(rc, w.host, w.plan);
      if (result?.status === 'ok' || result?.status === 'noop' || result?.status === 'lock-held') {
        outcomes.push({ ...w, result, output: '', reached: true, fast: true });
        continue;
      }
      say(
        `${rc.fleet ? `${w.host.name}: ` : ''}No quick switch back (${String(result?.['reason'] ?? 'no answer from the host helper')}): running the full rollback.`,
      );
    }
    rest.push(w);
  }
  if (rest.length) outcomes.push(...(await carryOut(rc, rest, appSecrets)));
  return outcomes;
}

/** Why a host's release did not end well, for a person. */
function hostFailure(ctx: Context, o: HostOutcome): { message: string; notice: Partial<Notice> } {
  const result = o.result;
  const where = whereText(o.host.profile, ctx.req.app);
  if (result?.status === 'lock-held') {
    const message = lockHeldMessage(
      where,
      { holder: result['holder'], alive: result['alive'], pid: result['pid'] },
      ctx.req.app,
      ctx.profile.name,
    );
    return { message, notice: { outcome: 'failed', error: message } };
  }
  if (result?.status === 'failed') {
    const logs = String(result['logs'] ?? '');
    if (logs && !result['restored'])
      log.info(redact(`Logs of the failed release on ${o.host.name}:\n${logs}`, ctx.secrets));
    const message = failureMessage(o.plan.action, o.plan.strategy, {
      tag: o.plan.target.tag,
      error: String(result['error'] ?? ''),
      live: String(result['live'] ?? ''),
      previous_tag: String(result['previous_tag'] ?? ''),
      restored: Boolean(result['restored']),
      phase: String(result['phase'] ?? ''),
    });
    return {
      message,
      notice: {
        outcome: result['restored'] ? 'rolled-back' : 'failed',
        live: String(result['live'] ?? ''),
        error: String(result['error'] ?? ''),
      },
    };
  }
  // Once the plan was being carried out, a lost connection does not stop it: the host finishes on its own.
  const reached = o.reached;
  const message =
    (reached ? undefined : explainSshFailure(o.output, o.host.profile)) ??
    'the host helper gave no result (the connection may have dropped: a release that started goes on on the host). ' +
      `See nx run ${ctx.req.app}:status --configuration=${ctx.profile.name}.`;
  return { message, notice: { outcome: 'failed', error: message } };
}

/**
 * Several hosts, one outcome: the hosts this deploy already switched go back to the release each
 * had before (a switch back while the old colour runs, else a full release of it).
 */
async function revert(
  ctx: Context,
  rc: RunContext,
  switched: HostOutcome[],
  before: Map<string, HostStatus | undefined>,
  say: (t: string) => void,
  appSecrets: Record<string, string> | undefined,
): Promise<string[]> {
  const work: { host: DeployHost; plan: ReleasePlan }[] = [];
  const notes: string[] = [];
  for (const o of switched) {
    const prev = before.get(o.host.name)?.current;
    const digests: Partial<Record<Component, string>> = {};
    for (const [c, image] of Object.entries(prev?.images ?? {}))
      if (image?.digest) digests[c as Component] = image.digest;
    if (!prev?.tag || !Object.keys(digests).length) {
      notes.push(`${o.host.name}: nothing was live before, left on ${o.plan.target.tag}`);
      continue;
    }
    const hc = { ...hostContext(ctx, o.host), holdId: o.plan.hold_id };
    const plan = makePlan(
      { ...hc, req: { ...ctx.req, action: 'rollback', force: false } },
      {
        release: { tag: prev.tag, gitSha: prev.git_sha ?? '', digests },
        expectLive: o.plan.target.tag,
      },
      appSecrets,
      `${o.plan.run_id}-back`,
    );
    work.push({ host: o.host, plan });
  }
  if (work.length) {
    say(`Bringing ${work.map((w) => w.host.name).join(', ')} back to the release each had before.`);
    for (const o of await releaseBatch(rc, work, appSecrets, say))
      notes.push(
        `${o.host.name}: ${done(o) ? `back on ${o.plan.target.tag}` : `could not go back (${String(o.result?.['error'] ?? o.result?.status ?? 'no answer')})`}`,
      );
  }
  return notes;
}

type Say = (text: string) => void;
type Work = { host: DeployHost; plan: ReleasePlan }[];

/** --promote / --abort: the paused canary on every host goes forward or back. */
async function promoteOrAbort(ctx: Context, say: Say): Promise<void> {
  const what = ctx.req.abort ? 'abort' : 'promote';
  const fleet = ctx.model.hosts.length > 1;
  for (const h of ctx.model.hosts) {
    const call = { ...ctx, profile: h.profile, app: ctx.req.app };
    // The host's history names who aborted.
    const answer = await expectOk(call, what, [ctx.deployer]).catch((error: Error) => {
      throw new Error(`--${what} on ${h.name}: ${error.message}`);
    });
    say(`${fleet ? `${h.name}: ` : ''}${String(answer['message'])}.`);
  }
}

/**
 * A host that is not ready (engine, compose, disk, ports, registry, ...) is refused with the list
 * of what to fix, before anything changes: the doctor's checks. Warnings are printed. A deploy to
 * one host over one SSH command runs them on that connection, just before the release (gate).
 */
async function preflight(ctx: Context, say: Say): Promise<void> {
  if (gated(ctx)) return;
  for (const h of ctx.model.hosts) {
    const check = await checkHost(ctx.model, h, ctx.ssh, ctx.secrets);
    sayChecks(ctx, h, check, say);
    if (!check.passed) throw notReady(ctx, h);
  }
}

/** A deploy to one host whose playbook does no more than the helper: checks and release at once. */
function gated(ctx: Context): boolean {
  return (
    ctx.req.action === 'deploy' &&
    ctx.model.hosts.length === 1 &&
    canReleaseDirectly(ctx.ansibleDir)
  );
}

function sayChecks(ctx: Context, h: DeployHost, check: HostCheckResult, say: Say): void {
  const fleet = ctx.model.hosts.length > 1;
  const lines = check.passed ? check.lines.filter((l) => l.startsWith('WARN')) : check.lines;
  for (const line of lines) say(`  ${fleet ? `${h.name}: ` : ''}${line}`);
}

function notReady(ctx: Context, h: DeployHost): Error {
  const fleet = ctx.model.hosts.length > 1;
  return new Error(
    `${fleet ? `${h.name}: ` : ''}the host is not ready (see FIX above); nothing was changed. Run nx run ${ctx.req.app}:doctor --configuration=${ctx.profile.name} after fixing it.`,
  );
}

/** Every host's plan, decided before any host changes (and, for a fleet deploy, what each ran before). */
async function decidePlans(
  ctx: Context,
  appSecrets: Record<string, string> | undefined,
  runId: string,
): Promise<{ work: Work; before: Map<string, HostStatus | undefined> }> {
  const { req, model } = ctx;
  const fleet = model.hosts.length > 1;
  const before = new Map<string, HostStatus | undefined>();
  const work: Work = [];
  const deployed = req.action === 'deploy' ? await deployTarget(ctx) : undefined;
  for (const host of model.hosts) {
    const hc = { ...hostContext(ctx, host), holdId: fleet ? runId : undefined };
    if (fleet && req.action === 'deploy')
      before.set(
        host.name,
        (await readHostStatus({ ...ctx, profile: host.profile, app: req.app })).status,
      );
    const target = deployed ?? (await rollbackTarget(hc));
    work.push({ host, plan: makePlan(hc, target, appSecrets, runId) });
  }
  return { work, before };
}

/**
 * The batches, one after another; stops at the first batch with a host that did not end well. A
 * fleet behind one name brings the first host's certificate to the others (remote/shared-certificate.ts).
 */
async function rollOut(
  ctx: Context,
  rc: RunContext,
  work: Work,
  appSecrets: Record<string, string> | undefined,
  say: Say,
): Promise<{ outcomes: HostOutcome[]; failedAt?: HostOutcome }> {
  const { req } = ctx;
  const tag = work[0].plan.target.tag;
  const outcomes: HostOutcome[] = [];
  const holder = certificateHolder(work);
  let shared = holder ? await readObtained(rc, holder) : undefined;
  let steps = batches(work, ctx.profile.rollout_batches);
  if (holder && !shared) {
    say(
      `${holder.host.name} obtains the certificate of ${String(holder.plan.edge?.domain)} first; the other hosts pass the CA's challenges on to it.`,
    );
    await routeChallenges(rc, work);
    steps = holderFirst(steps, holder);
  }
  for (const [i, step] of steps.entries()) {
    say(
      rc.fleet
        ? `${req.action} ${req.app} ${tag}: batch ${i + 1}/${steps.length} (${step.map((w) => w.host.name).join(', ')})`
        : `${req.action} ${req.app} ${tag} → ${whereText(step[0].host.profile, req.app)}`,
    );
    if (holder && !shared && !step.includes(holder)) {
      shared = await readObtained(rc, holder);
      if (!shared)
        throw new Error(
          `${holder.host.name} has no certificate for ${String(holder.plan.edge?.domain)} after its release: the other hosts were not changed.`,
        );
    }
    const results = await releaseBatch(rc, step, withCertificate(appSecrets, shared), say);
    const refused = results.find((o) => o.notReady);
    if (refused) throw notReady(ctx, refused.host);
    outcomes.push(...results);
    const failedAt = results.find((o) => !done(o));
    if (failedAt) return { outcomes, failedAt };
    if (i < steps.length - 1 && ctx.profile.rollout_wait > 0)
      await new Promise((r) => setTimeout(r, ctx.profile.rollout_wait * 1000));
  }
  return { outcomes };
}

/** What a release that ended well prints and notifies. */
function succeeded(ctx: Context, outcomes: HostOutcome[], base: NoticeBase, say: Say): Notice {
  const { req } = ctx;
  const fleet = ctx.model.hosts.length > 1;
  const first = outcomes[0];
  const live = String(first.result?.['live'] || first.plan.target.tag);
  const previous = String(first.result?.['previous_tag'] ?? '');
  const noop = outcomes.every((o) => o.result?.status === 'noop');
  const details = fleet
    ? outcomes.map(
        (o) => `${o.host.name}: ${String(o.result?.status)} ${String(o.result?.['live'] ?? '')}`,
      )
    : undefined;
  for (const d of details ?? []) say(`  ${d}`);
  const env = first.plan.env;
  say(
    noop
      ? `${live} is already live and healthy on ${env}: nothing to do (use --force to roll out again).`
      : `${req.action} done: ${live} is live on ${env}${fleet ? ` (${ctx.model.hosts.length} hosts)` : ''} (previous: ${previous || 'none'}) in ${base.seconds.toFixed(1)}s` +
          (outcomes.every((o) => o.fast)
            ? '; its colour was still running, so the proxy switched back (no pull, no start).'
            : '.'),
  );
  if (first.plan.edge) say(`Served at ${edgeUrl(first.plan.edge)} (the host's edge, HTTPS).`);
  const outcome: Outcome = noop ? 'noop' : 'ok';
  return { ...base, tag: live, outcome, live, previous: previous || undefined, details };
}

/** What a release that failed prints and notifies; a fleet first goes back to what each host had. */
async function failed(
  ctx: Context,
  rc: RunContext,
  run: {
    outcomes: HostOutcome[];
    failedAt: HostOutcome;
    before: Map<string, HostStatus | undefined>;
  },
  appSecrets: Record<string, string> | undefined,
  base: NoticeBase,
  say: Say,
): Promise<Notice> {
  // A fleet host whose connection dropped: its own end is read first.
  const settled = rc.fleet ? await settleUnanswered(ctx, run.outcomes, say) : run.outcomes;
  const failedAt = settled.find((o) => o.host.name === run.failedAt.host.name) ?? run.failedAt;
  const failure = hostFailure(ctx, failedAt);
  let message = rc.fleet ? `${failedAt.host.name}: ${failure.message}` : failure.message;
  let details: string[] | undefined;
  if (rc.fleet) {
    const outcomes = settled;
    const switched = outcomes.filter((o) => o.result?.status === 'ok');
    details = await revert(ctx, rc, switched, run.before, say, appSecrets);
    const untouched = ctx.model.hosts
      .filter((h) => !outcomes.some((o) => o.host.name === h.name))
      .map((h) => h.name);
    if (untouched.length) details.push(`${untouched.join(', ')}: never touched`);
    message += ` ${fleetEndMessage(await hostEnds(ctx, run.before), details, `nx run ${ctx.req.app}:status --configuration=${ctx.profile.name}`)}`;
  }
  log.error(redact(`${ctx.req.action} failed: ${message}`, ctx.secrets));
  return { ...base, tag: failedAt.plan.target.tag, outcome: 'failed', ...failure.notice, details };
}

type NoticeBase = Omit<Notice, 'tag' | 'outcome'> & { seconds: number };

/**
 * A host that gave no result (its connection dropped) still runs its release: its end is waited
 * for over a new connection, so the revert knows whether it switched.
 */
async function settleUnanswered(
  ctx: Context,
  outcomes: HostOutcome[],
  say: Say,
): Promise<HostOutcome[]> {
  return Promise.all(
    outcomes.map(async (o) => {
      if (o.result) return o;
      say(`${o.host.name} gave no result: waiting for its release to end there.`);
      const call = { ...ctx, profile: o.host.profile, app: ctx.req.app };
      // A run that had started is followed to its end; one that never started is not waited for long.
      const result = await awaitRun(call, o.plan.run_id, o.reached ? 3600 : 15);
      if (result) say(`${o.host.name}: its release ended ${String(result.status)}.`);
      return result ? { ...o, result } : o;
    }),
  );
}

/** What each host serves now, read from the host (what the fleet's end message reports). */
async function hostEnds(
  ctx: Context,
  before: Map<string, HostStatus | undefined>,
): Promise<HostEnd[]> {
  return Promise.all(
    ctx.model.hosts.map(async (h) => {
      const now = await readHostStatus({ ...ctx, profile: h.profile, app: ctx.req.app }).catch(
        () => undefined,
      );
      return {
        host: h.name,
        had: before.get(h.name)?.current?.tag ?? '',
        live: now ? (now.status?.current?.tag ?? '') : undefined,
      };
    }),
  );
}

/**
 * A deploy or rollback: prepare the model, check the hosts, read the secrets, decide every plan,
 * roll out batch by batch, report (a fleet that failed goes back first), notify.
 */
export async function runRelease(req: ReleaseRequest): Promise<{ success: boolean }> {
  const started = Date.now();
  return conveyorExecutor(
    req.action,
    { projectName: req.app, root: req.workspaceRoot },
    async ({ env, dir, secrets, say }) => {
      let notice: Notice | undefined;
      let holds: Holds | undefined;
      try {
        const ctx = await prepare(req, env, dir, secrets);
        if (req.action === 'deploy' && (req.promote || req.abort)) {
          await promoteOrAbort(ctx, say);
          return true;
        }
        if (req.breakLock && !req.dryRun)
          for (const h of ctx.model.hosts) await breakLock(hostContext(ctx, h), say);
        if (req.action === 'deploy' && !req.dryRun) await preflight(ctx, say);
        // The app's secrets, read before anything asks the host: redacted from every line from here on.
        const appSecrets = await releaseSecrets(ctx);
        if (appSecrets) secrets.push(...Object.values(appSecrets).filter((v) => v.length >= 4));
        const runId = `${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
        const { work, before } = await decidePlans(ctx, appSecrets, runId);
        if (req.dryRun) {
          for (const w of work) printPlan(hostContext(ctx, w.host), w.plan, say);
          return true;
        }
        const rc = runContext(ctx, ctx.model.hosts.length > 1, say);
        const gate = req.action === 'deploy' && req.gate?.e2e ? gateOf(ctx, say) : undefined;
        rc.onEvent = gate?.onEvent;
        if (rc.fleet)
          holds = await holdAll(rc, ctx.model.hosts, runId, ctx.deployer, ctx.model.lockTimeout);
        const rolled = await rollOut(ctx, rc, work, appSecrets, say);
        await gate?.settled();
        const base: NoticeBase = {
          app: req.app,
          environment: work[0].plan.env,
          action: req.action,
          seconds: (Date.now() - started) / 1000,
          deployer: ctx.deployer,
        };
        notice = rolled.failedAt
          ? await failed(
              ctx,
              rc,
              { ...rolled, failedAt: rolled.failedAt, before },
              appSecrets,
              base,
              say,
            )
          : succeeded(ctx, rolled.outcomes, base, say);
        return !rolled.failedAt;
      } finally {
        await holds?.release();
        if (notice) {
          // The host's error and details, redacted like every line printed.
          const sent = await sendTelegram(env, noticeText(notice, secrets));
          if (sent.warning) log.warn(redact(sent.warning, secrets));
        }
      }
    },
  );
}

/** gate.e2e's browser tests, checked before any host is asked: a frontend and its <app>-e2e. */
function gateOf(ctx: Context, say: Say): BrowserGate {
  const { req } = ctx;
  if (ctx.ports.frontend === undefined)
    throw new Error(
      `gate.e2e runs the browser tests against the new frontend: ${req.app} has none.`,
    );
  const missing = req.context ? browserTestsMissing(req.app, req.context) : 'no Nx context';
  if (missing || !req.context) throw new Error(`gate.e2e: ${missing}`);
  return browserGate(req.context, { app: req.app, ssh: ctx.ssh, secrets: ctx.secrets }, say);
}

async function breakLock(ctx: Context, say: (t: string) => void) {
  const a = await askHelper({ ...ctx, app: ctx.req.app }, 'break-lock', [ctx.deployer]);
  const result = a.result;
  if (!result)
    throw new Error(
      `--breakLock: the host helper gave no answer (exit ${a.code}): ${a.output.trim().slice(-300)}`,
    );
  if (result.status === 'lock-held')
    throw new Error(
      `--breakLock refused: the lock on ${ctx.where} is held by ${String(result['holder'])}, which is alive. ${String(result['message'] ?? '')}`,
    );
  say(
    result['broken'] ? `Broke the lock held by ${String(result['holder'])}.` : 'The lock was free.',
  );
}
