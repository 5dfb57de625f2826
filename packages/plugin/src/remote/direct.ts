/**
 * A release over one SSH command, without Ansible, for an app whose playbook is Conveyor's own
 * (unedited, as its manifest says) and has no Ansible hooks: what the playbook would upload goes
 * on the helper's stdin with the login and the secrets (core/remote/bundle.ts), and the helper's
 * progress comes back on the same connection. The helper is installed only when its hash on the
 * host differs from the one shipped (the helper says so, exit 75, and nothing else happened).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { SECRET_ENV } from '../core/config/names';
import { DOCTOR_MARK, DoctorInput, GATE_FAILED, gatedScript } from '../core/remote/doctor';
import { HostCheckResult, hostCheckResult } from './check-host';
import type { Profile } from '../core/config/profile';
import type { DeployHost } from '../core/release/deploy-model';
import type { ReleasePlan } from '../core/release/release-plan';
import { releaseBundle } from '../core/remote/bundle';
import { HostEvent, hostResult, onHost, parseHostEvents } from '../core/remote/host';
import { helperArgv, hostHelperPath } from '../core/remote/host';
import {
  BEFORE_SWITCH_HOOK,
  COMPOSE_OVERRIDE,
  composeOverrideFor,
  contentHash,
  HOOKS,
  HOOKS_DIR,
  Manifest,
  MANIFEST_FILE,
} from '../core/workspace/owned';
import { run } from '../shell/run';
import type { HostOutcome, RunContext } from './host-run';

const PLAYBOOK = 'infra/ansible/playbook.yml';

/**
 * Whether the playbook would do nothing but what the direct release does: it is the playbook
 * Conveyor wrote for this app (its hash is the manifest's) and no Ansible hook exists.
 */
export function canReleaseDirectly(ansibleDir: string): boolean {
  if (Object.values(HOOKS).some((h) => existsSync(join(ansibleDir, HOOKS_DIR, `${h}.yml`))))
    return false;
  const manifestFile = resolve(ansibleDir, '..', '..', MANIFEST_FILE);
  const playbook = join(ansibleDir, 'playbook.yml');
  if (!existsSync(manifestFile) || !existsSync(playbook)) return false;
  try {
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
    return manifest.owned?.[PLAYBOOK] === contentHash(readFileSync(playbook, 'utf8'));
  } catch {
    return false;
  }
}

/** The helper shipped with this plugin, and its hash as the helper computes its own. */
export function shippedHelper(file: string): { bytes: Buffer; hash: string } {
  const bytes = readFileSync(file);
  return { bytes, hash: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}

/** Installs the helper on a host unless the one there has the same hash: one SSH command. */
export async function installHelper(
  ctx: RunContext,
  profile: Profile,
  helper: { bytes: Buffer; hash: string },
): Promise<void> {
  const path = hostHelperPath(profile, ctx.app);
  const script =
    '[ "sha256:$(sha256sum "$2" 2>/dev/null | cut -d" " -f1)" = "$3" ] && exit 0; ' +
    'mkdir -p "$1" && base64 -d > "$2.new" && chmod 0750 "$2.new" && mv -f "$2.new" "$2"';
  const r = await run(
    onHost(
      profile,
      ctx.ssh,
      ['sh', '-c', script, 'install', dirname(path), path, helper.hash],
      helper.bytes.toString('base64'),
    ),
    { secrets: ctx.secrets, stream: false },
  );
  if (r.code !== 0)
    throw new Error(
      `Installing the host helper at ${path} failed (exit ${r.code}): ${r.output.trim().slice(-300)}`,
    );
}

function optional(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

/** The stdin of `release-bundle`: the run's files, the login and the secrets. */
function bundleText(
  ctx: RunContext,
  host: DeployHost,
  plan: ReleasePlan,
  appSecrets?: Record<string, string>,
): string {
  const folder = dirname(ctx.composeSrc);
  return JSON.stringify(
    releaseBundle({
      plan,
      profile: host.profile,
      compose: readFileSync(ctx.composeSrc, 'utf8'),
      override:
        optional(join(folder, composeOverrideFor(plan.env))) ??
        optional(join(folder, COMPOSE_OVERRIDE)),
      beforeSwitch: optional(join(ctx.ansibleDir, HOOKS_DIR, BEFORE_SWITCH_HOOK)),
      auth: {
        user: ctx.env[SECRET_ENV.registryUser],
        password: ctx.env[SECRET_ENV.registryPass],
        secrets: appSecrets ?? {},
      },
    }),
  );
}

/**
 * The doctor's checks run first over the same connection (a deploy): the release starts only when
 * none failed, and the checks' report reaches onChecks before the first step of the release.
 */
export interface Gate {
  input(host: DeployHost): DoctorInput;
  onChecks(host: DeployHost, checks: HostCheckResult): void;
}

/** One host's release over one SSH command (twice when its helper had to be installed first). */
async function releaseOn(
  ctx: RunContext,
  host: DeployHost,
  plan: ReleasePlan,
  helper: { bytes: Buffer; hash: string },
  appSecrets: Record<string, string> | undefined,
  onEvent: (e: HostEvent, seconds: number) => void,
  gate?: Gate,
): Promise<HostOutcome> {
  const started = Date.now();
  const stdin = bundleText(ctx, host, plan, appSecrets);
  const input = gate?.input(host);
  const release = helperArgv(host.profile, plan.app, 'release-bundle', [helper.hash]);
  const remote = input ? ['sh', '-c', gatedScript(input), 'gate', ...release] : release;
  const command = () => onHost(host.profile, ctx.ssh, remote, stdin);
  let checks: HostCheckResult | undefined;
  let checkLines = '';
  const report = () => {
    if (!input || checks) return;
    checks = hostCheckResult(checkLines, input, host.profile);
    gate?.onChecks(host, checks);
  };
  const attempt = () => {
    checks = undefined;
    checkLines = '';
    return run(command(), {
      secrets: ctx.secrets,
      stream: false,
      onLine: (line) => {
        if (line.startsWith(DOCTOR_MARK)) checkLines += `${line}\n`;
        const e = parseHostEvents(line)[0];
        if (!e) return;
        report();
        if (e.event !== 'result') onEvent(e, (Date.now() - started) / 1000);
      },
    });
  };
  let r = await attempt();
  let events = parseHostEvents(r.stdout);
  const outdated = hostResult(events)?.status === 'outdated';
  const notReady = input && events.length === 0 && r.code === GATE_FAILED;
  if (!notReady && (outdated || (events.length === 0 && (r.code === 126 || r.code === 127)))) {
    await installHelper(ctx, host.profile, helper);
    r = await attempt();
    events = parseHostEvents(r.stdout);
  }
  if (input && r.stdout.includes(DOCTOR_MARK)) report();
  return {
    host,
    plan,
    result: hostResult(events),
    output: r.output,
    reached: events.length > 0,
    notReady: checks && !checks.passed ? checks : undefined,
  };
}

/** A batch of hosts, each over its own connection, side by side. */
export async function releaseDirectly(
  ctx: RunContext,
  work: { host: DeployHost; plan: ReleasePlan }[],
  helperFile: string,
  appSecrets: Record<string, string> | undefined,
  onEvent: (host: DeployHost, e: HostEvent, seconds: number) => void,
  gate?: Gate,
): Promise<HostOutcome[]> {
  const helper = shippedHelper(helperFile);
  return Promise.all(
    work.map(({ host, plan }) =>
      releaseOn(ctx, host, plan, helper, appSecrets, (e, s) => onEvent(host, e, s), gate),
    ),
  );
}
