/**
 * The whole release, decided before anything runs: which tag with which digests, on which host
 * path, with which ports, projects and timeouts. The host helper (src/host/conveyor_host)
 * carries the plan out and never decides a tag itself. Pure: no processes, no network.
 */
import { createHash } from 'node:crypto';
import type { DeployAction } from '../remote/ansible';
import {
  APP_ENV,
  appPath,
  Component,
  imageRepository,
  registryHost,
  TOOL_ENV,
} from '../config/names';
import type { DeployHost, DeployModel } from './deploy-model';
import { environmentName, projectPrefix, type Profile } from '../config/profile';
import { Color, colorPorts } from './strategy';
import { colorSelector } from '../monitoring/colors';
import { EdgePlan, edgePlan } from '../edge/edge';
import type { DatabasePlan } from '../database/database-plan';

export type ComponentPorts = Partial<Record<Component, number>>;

export interface PlannedImage {
  /** registry/namespace/app_component */
  repository: string;
  /** sha256:... as the registry reported it */
  digest: string;
}

export interface PlannedRelease {
  tag: string;
  /** The commit of the release: what /metrics must report after every path ('' when unknown). */
  git_sha: string;
  images: Partial<Record<Component, PlannedImage>>;
}

export interface ReleasePlan {
  version: 1;
  run_id: string;
  /** Several hosts: the run whose environment lock (`hold`) this release goes on under. */
  hold_id?: string;
  action: DeployAction;
  app: string;
  env: string;
  deployer: string;
  app_path: string;
  /** How the release goes live on the host: canary is blue-green whose switch goes in steps. */
  strategy: 'recreate' | 'blue-green';
  components: Component[];
  public_ports: ComponentPorts;
  color_ports: Record<Color, ComponentPorts>;
  /**
   * Compose projects are <prefix>-blue, <prefix>-green, <prefix>-proxy (recreate: <prefix>);
   * <app>-<env> unless the host names its own (hosts that share one engine).
   */
  project_prefix: string;
  registry: string;
  target: PlannedRelease;
  /** A rollback acts only while this release is live (what the plan was made from). */
  expect_live?: string;
  /**
   * This app and environment also run from another folder: `abandoned` (its folder is gone) or
   * `move` (the old deploy_path's app folder, `from`). The new release starts beside the old one
   * and takes its ports over after its gate; the old projects' containers are then removed.
   */
  take_over?: TakeOver;
  force: boolean;
  health_timeout: number;
  lock_timeout: number;
  drain_seconds: number;
  proxy_image: string;
  engine_command: string;
  compose_command: string;
  /** Where the compose file is on the host (uploaded with the plan). */
  compose_file: string;
  compose_env: Record<string, string>;
  env_names: {
    bind: string;
    image_tag: string;
    git_sha: string;
    deployed_at: string;
    ports: Partial<Record<Component, string>>;
  };
  /** Path each component must answer 200 on before the release is checked further. */
  gate: Partial<Record<Component, string>>;
  /** The backend's /metrics must report the target's tag and commit. */
  version_check: boolean;
  /** Further ports that must answer 200 before the release counts as started. */
  checks: { port: number; path: string }[];
  /** strategy canary: the steps and thresholds the helper judges the new colour by. */
  canary?: {
    steps: number[];
    pause: number;
    interval: number;
    max_error_ratio: number;
    max_p99: number;
    min_requests: number;
    /**
     * Judged with PromQL on this Prometheus (the profile's canary_prometheus): the rates of the
     * new colour's requests over `window` seconds, selected by `selector` (the labels of this
     * host's colours, core/monitoring/colors.ts) and `color="<new colour>"`. Absent: the
     * canary's own /metrics counters.
     */
    prometheus?: { url: string; window: number; selector: string };
  };
  /**
   * The app's secrets by name (their values travel on the helper's stdin, never in the plan) and
   * a hash of the values: a changed secret with unchanged images is a new release.
   */
  secrets?: { names: string[]; hash: string; services: string[] };
  /** The app's name on the web, served by the host's edge (core/edge/edge.ts). */
  edge?: EdgePlan;
  /** The app's database: its service, migrations and backups (core/database/database-plan.ts). */
  database?: DatabasePlan;
  /**
   * gate.e2e: before its switch, the new colour waits (up to `timeout` seconds) for the verdict
   * of the app's browser tests, which the deploy runs against the colour's frontend.
   */
  browser_gate?: { timeout: number };
}

/** Seconds a new colour waits for its browser tests' verdict before it gives up (and fails). */
export const BROWSER_GATE_TIMEOUT = 900;

export type TakeOver = { kind: 'abandoned' } | { kind: 'move'; from: string };

/**
 * What `--replaceAbandoned` / `--moveFrom=<old deploy_path>` ask for, checked: one of them, and a
 * move from an absolute path other than the current one.
 */
export function takeOverOf(
  opts: { replaceAbandoned?: boolean; moveFrom?: string },
  profile: Profile,
  app: string,
): TakeOver | undefined {
  const move = opts.moveFrom?.trim();
  if (opts.replaceAbandoned && move)
    throw new Error('--replaceAbandoned and --moveFrom exclude each other: give one.');
  if (opts.replaceAbandoned) return { kind: 'abandoned' };
  if (opts.moveFrom === undefined) return undefined;
  if (!move || !move.startsWith('/'))
    throw new Error(
      `--moveFrom must be the old deploy_path, an absolute path (got "${opts.moveFrom}").`,
    );
  const from = appPath({ deploy_path: move }, app);
  if (from === appPath(profile, app))
    throw new Error(`--moveFrom=${move} is the profile's deploy_path already: nothing to move.`);
  return { kind: 'move', from };
}

export interface PlanInput {
  runId: string;
  action: DeployAction;
  /** What the target, profile, environment and inventory decided (ports, strategy, timeouts, ...). */
  model: DeployModel;
  /** The host this plan is for, with its own ports, paths and project prefix. */
  host: DeployHost;
  deployer: string;
  target: { tag: string; gitSha: string; digests: Partial<Record<Component, string>> };
  expectLive?: string;
  takeOver?: TakeOver;
  force: boolean;
  /** Several hosts: the environment lock's run id. */
  holdId?: string;
  /** Secret values by name (only their names and hash enter the plan). */
  secrets?: Record<string, string>;
  /** Compose services that get the secrets (default: backend). */
  secretServices?: string[];
  /** The app's database, decided by databasePlan. */
  database?: DatabasePlan;
  /** gate.e2e: the browser tests decide before the switch (a deploy of an app with a frontend). */
  browserGate?: boolean;
}

/** A hash over the secrets' names and values: shows a change without showing a value. */
export function secretsHash(secrets: Record<string, string>): string {
  const h = createHash('sha256');
  for (const name of Object.keys(secrets).sort()) h.update(`${name}\0${secrets[name]}\0`);
  return `sha256:${h.digest('hex')}`;
}

/** Where a run's files go on the host (uploaded by the playbook, removed by the helper). */
export function runFiles(app: string, profile: Profile, runId: string) {
  const dir = `${appPath(profile, app)}/.conveyor/runs`;
  return { dir, plan: `${dir}/${runId}.plan.json`, compose: `${dir}/${runId}.compose.yml` };
}

export function planRelease(input: PlanInput): ReleasePlan {
  const { model, host } = input;
  const { app } = model;
  const profile = host.profile;
  const ports = host.ports;
  const env = environmentName(profile);
  const components: Component[] =
    ports.frontend === undefined ? ['backend'] : ['backend', 'frontend'];
  for (const c of components) {
    if (!input.target.digests[c])
      throw new Error(`The release ${input.target.tag} has no recorded digest for ${c}.`);
  }
  const images: PlannedRelease['images'] = {};
  for (const c of components) {
    images[c] = {
      repository: imageRepository(profile.registry, profile.registry_namespace, app, c),
      digest: input.target.digests[c] as string,
    };
  }
  const publicPorts: ComponentPorts = { backend: ports.backend };
  if (ports.frontend !== undefined) publicPorts.frontend = ports.frontend;
  const plan: ReleasePlan = {
    version: 1,
    run_id: input.runId,
    action: input.action,
    app,
    env,
    deployer: input.deployer,
    app_path: appPath(profile, app),
    strategy: model.strategy === 'recreate' ? 'recreate' : 'blue-green',
    components,
    public_ports: publicPorts,
    color_ports: colorPorts(ports.backend, ports.frontend),
    project_prefix: projectPrefix(app, profile, host.projectPrefix),
    registry: registryHost(profile.registry),
    target: { tag: input.target.tag, git_sha: input.target.gitSha, images },
    force: input.force,
    health_timeout: model.healthTimeout,
    lock_timeout: model.lockTimeout,
    drain_seconds: profile.drain_seconds,
    proxy_image: profile.proxy_image,
    engine_command: model.engineCommand,
    compose_command: profile.compose_command,
    compose_file: runFiles(app, profile, input.runId).compose,
    compose_env: {
      [APP_ENV.registryUrl]: registryHost(profile.registry),
      [APP_ENV.registryNs]: profile.registry_namespace,
      ...model.composeEnv,
      [APP_ENV.profile]: env,
    },
    env_names: {
      bind: TOOL_ENV.bindPrefix,
      image_tag: APP_ENV.imageTag,
      git_sha: APP_ENV.gitSha,
      deployed_at: APP_ENV.deployedAt,
      ports: { backend: TOOL_ENV.backendPort, frontend: TOOL_ENV.frontendPort },
    },
    gate:
      ports.frontend === undefined
        ? { backend: model.healthPath }
        : { backend: model.healthPath, frontend: '/' },
    version_check: model.versionCheck,
    checks: model.checks,
  };
  const edge = edgePlan(app, profile, ports, {
    caRoot: model.acmeCaRoot,
    healthPath: model.healthPath,
    versionCheck: model.versionCheck,
    certificateFrom: host.certificateFrom,
  });
  if (edge) plan.edge = edge;
  if (input.database) plan.database = input.database;
  if (input.browserGate && input.action === 'deploy' && ports.frontend !== undefined) {
    if (model.strategy === 'recreate')
      throw new Error(
        'gate.e2e tests the new release before it takes traffic: it needs the blue-green or canary strategy (recreate replaces the release in place).',
      );
    plan.browser_gate = { timeout: BROWSER_GATE_TIMEOUT };
  }
  if (input.expectLive !== undefined) plan.expect_live = input.expectLive;
  if (input.holdId) plan.hold_id = input.holdId;
  if (input.takeOver) plan.take_over = input.takeOver;
  if (model.strategy === 'canary' && input.action === 'deploy')
    plan.canary = {
      steps: profile.canary_steps,
      pause: profile.canary_pause,
      interval: 1,
      max_error_ratio: profile.canary_max_error_ratio,
      max_p99: profile.canary_max_p99,
      min_requests: 5,
      ...(profile.canary_prometheus
        ? {
            prometheus: {
              url: profile.canary_prometheus,
              window: profile.canary_window,
              selector: colorSelector(app, profile.name, host.name),
            },
          }
        : {}),
    };
  if (input.secrets && Object.keys(input.secrets).length > 0)
    plan.secrets = {
      names: Object.keys(input.secrets).sort(),
      hash: secretsHash(input.secrets),
      services: input.secretServices ?? ['backend'],
    };
  return plan;
}
