/**
 * The deploy model: what a deploy target's options, its profile, this machine's environment and
 * the app's inventory decide together, decided once. Every default and override is applied here:
 * the release plan, the doctor's checks, status, rollback, bootstrap and the monitoring targets
 * read the result and decide nothing again. Pure: no processes, no files.
 */
import { fleetHosts, InventoryList } from './fleet';
import { TOOL_ENV } from '../config/names';
import { checkPortPlan, validatePort } from '../config/ports';
import { domainError, type Profile, type Strategy } from '../config/profile';
import { colorPorts } from './strategy';
import { previewEnv, previewProfile } from './preview';
import { type CertificateSource, certificateSources } from '../edge/edge';

/**
 * The options' defaults, the one table: the executors' schema.json files carry the same values for
 * Nx's documentation, and a unit test holds the two together.
 */
export const DEPLOY_DEFAULTS = {
  profile: 'local',
  healthTimeout: 60,
  lockTimeout: 120,
  loginCommand: 'docker',
  healthPath: '/health',
  versionCheck: true,
} as const;

/** The options of a deploy target that the model reads (deploy's schema; rollback and doctor share them). */
export interface DeployModelOptions {
  profile?: string;
  backendPort?: number;
  frontendPort?: number;
  strategy?: Strategy;
  /** The app's domain in this environment, over the profile's (apps that share a profile). */
  domain?: string;
  healthTimeout?: number;
  lockTimeout?: number;
  loginCommand?: string;
  healthPath?: string;
  versionCheck?: boolean;
  readyChecks?: { port: number; path: string; env?: string }[];
  composeEnv?: string[];
}

/** The public ports of an app on a host. */
export interface AppPorts {
  backend: number;
  frontend?: number;
}

export interface DeployHost {
  /** The inventory name (what Ansible's --limit and the messages use). */
  name: string;
  /** The profile as this host sees it (its own ssh host, port, user, deploy path). */
  profile: Profile;
  ports: AppPorts;
  /** Compose project prefix of its own (conveyor_compose_project: hosts that share one engine). */
  projectPrefix?: string;
  /** A fleet behind one name: the host whose certificate this host serves (core/edge/edge.ts). */
  certificateFrom?: CertificateSource;
}

export interface DeployModel {
  app: string;
  profile: Profile;
  /** The target's strategy, else the profile's (the monitoring stack always says recreate). */
  strategy: Strategy;
  /** The ports the target asks for, after BACKEND_PORT / FRONTEND_PORT; hosts may set their own. */
  ports: AppPorts;
  hosts: DeployHost[];
  healthTimeout: number;
  lockTimeout: number;
  engineCommand: string;
  healthPath: string;
  versionCheck: boolean;
  checks: { port: number; path: string }[];
  /** Variables of this machine's environment the release's .env gets (those that are set). */
  composeEnv: Record<string, string>;
  /** The ACME CA's root the edge trusts (the profile's acme_ca_root file, read). */
  acmeCaRoot?: string;
}

/** The profile a target runs with: --configuration's, else the target's, else `local`. */
export function profileName(options: { profile?: string }): string {
  return options.profile ?? DEPLOY_DEFAULTS.profile;
}

/** A port from the environment (BACKEND_PORT, ...) over the target's option, through the one port check. */
function overridden(
  env: NodeJS.ProcessEnv,
  envName: string | undefined,
  option: number | undefined,
  optionName: string,
): number | undefined {
  const fromEnv = envName ? env[envName] : undefined;
  if (fromEnv !== undefined && fromEnv !== '') return validatePort(fromEnv, envName as string);
  return option === undefined ? undefined : validatePort(option, optionName);
}

/**
 * The app's public ports: the target's, each replaced by BACKEND_PORT / FRONTEND_PORT when set (a
 * frontend port only for an app that has a frontend), checked as a pair by the port plan.
 */
export function appPorts(options: DeployModelOptions, env: NodeJS.ProcessEnv): AppPorts {
  const backend = overridden(env, TOOL_ENV.backendPort, options.backendPort, '--backendPort');
  if (backend === undefined) throw new Error('backendPort is not set for this target.');
  const ports: AppPorts = { backend };
  if (options.frontendPort !== undefined)
    ports.frontend = overridden(env, TOOL_ENV.frontendPort, options.frontendPort, '--frontendPort');
  const clash = checkPortPlan(ports.backend, ports.frontend);
  if (clash) throw new Error(clash);
  return ports;
}

/** How a release goes live: the target's strategy over the profile's. */
export function strategyOf(options: { strategy?: Strategy }, profile: Profile): Strategy {
  return options.strategy ?? profile.strategy;
}

/**
 * The hosts of the environment with their own ports and paths: the inventory's, each checked by
 * the port plan as the target's ports are; without an inventory, the profile's one host.
 */
export function deployHosts(
  inventory: InventoryList | undefined,
  profile: Profile,
  ports: AppPorts,
  inventoryFile = 'the inventory',
): DeployHost[] {
  if (!inventory) return [{ name: profile.ssh_host || 'localhost', profile, ports }];
  return fleetHosts(
    inventory,
    'app',
    profile,
    { backendPort: ports.backend, frontendPort: ports.frontend },
    inventoryFile,
  ).map((h) => {
    const own: AppPorts = { backend: h.backendPort };
    if (h.frontendPort !== undefined) own.frontend = h.frontendPort;
    const clash = checkPortPlan(own.backend, own.frontend);
    if (clash) throw new Error(`${inventoryFile}: host ${h.name}: ${clash}`);
    const host: DeployHost = { name: h.name, profile: h.profile, ports: own };
    if (h.projectPrefix) host.projectPrefix = h.projectPrefix;
    return host;
  });
}

/** Every port the app publishes on a host: its public ports, and each colour's unless recreate. */
export function publishedPorts(strategy: Strategy, ports: AppPorts): number[] {
  const out = [ports.backend, ...(ports.frontend === undefined ? [] : [ports.frontend])];
  if (strategy === 'recreate') return out;
  for (const c of Object.values(colorPorts(ports.backend, ports.frontend)))
    out.push(...Object.values(c).filter((p): p is number => typeof p === 'number'));
  return out;
}

export interface DeployModelInput {
  app: string;
  options: DeployModelOptions;
  profile: Profile;
  env: NodeJS.ProcessEnv;
  /** `ansible-inventory --list` of the target's inventory; undefined: the profile's host alone. */
  inventory?: InventoryList;
  /** The inventory as messages name it (workspace-relative). */
  inventoryFile?: string;
  /** The PEM text of the profile's acme_ca_root file. */
  acmeCaRoot?: string;
  /** A pull request's preview (core/release/preview.ts) with the ports it takes on every host. */
  preview?: { pr: number; ports: AppPorts };
}

/**
 * The profile with the target's domain over its own: TLS follows the domain (acme) unless the
 * profile writes its tls.
 */
export function withDomain(profile: Profile, domain: string | undefined): Profile {
  const name = domain?.trim().toLowerCase();
  if (!name) return profile;
  const problem = domainError(name);
  if (problem) throw new Error(`The deploy target's domain ${problem}, got "${domain}".`);
  return { ...profile, domain: name, tls: profile.tls_written ? profile.tls : 'acme' };
}

/**
 * The hosts of a preview: each host's own deploy path and project prefix with the preview's folder
 * and name under them, the preview's ports on every host.
 */
export function previewHosts(
  hosts: DeployHost[],
  preview: { pr: number; ports: AppPorts },
): DeployHost[] {
  return hosts.map((h) => {
    const profile = previewProfile(h.profile, preview.pr);
    return {
      ...h,
      profile,
      ports: preview.ports,
      ...(h.projectPrefix ? { projectPrefix: `${h.projectPrefix}-${previewEnv(preview.pr)}` } : {}),
    };
  });
}

/**
 * The profile an edge serves and a release deploys with: a preview's (its own folder and name),
 * else the profile with the target's domain over its own.
 */
export function releaseProfile(
  profile: Profile,
  options: { domain?: string },
  preview?: { pr: number },
): Profile {
  return preview ? previewProfile(profile, preview.pr) : withDomain(profile, options.domain);
}

/** Each host with the host whose certificate it serves, if any (a fleet behind one name). */
export function withCertificateSources(hosts: DeployHost[]): DeployHost[] {
  const sources = certificateSources(hosts);
  return hosts.map((h, i) => (sources[i] ? { ...h, certificateFrom: sources[i] } : h));
}

export function deployModel(input: DeployModelInput): DeployModel {
  const { options, env, preview } = input;
  const profile = releaseProfile(input.profile, options, preview);
  const ports = preview ? preview.ports : appPorts(options, env);
  const composeEnv: Record<string, string> = {};
  for (const name of options.composeEnv ?? []) if (env[name]) composeEnv[name] = env[name];
  // A preview's hosts are the profile's, each with the preview's folder under its own deploy path.
  const hosts = withCertificateSources(
    preview
      ? previewHosts(
          deployHosts(input.inventory, input.profile, ports, input.inventoryFile),
          preview,
        )
      : deployHosts(input.inventory, profile, ports, input.inventoryFile),
  );
  return {
    app: input.app,
    profile,
    strategy: preview ? profile.strategy : strategyOf(options, profile),
    ports,
    hosts,
    healthTimeout: options.healthTimeout ?? DEPLOY_DEFAULTS.healthTimeout,
    lockTimeout: options.lockTimeout ?? DEPLOY_DEFAULTS.lockTimeout,
    engineCommand: options.loginCommand ?? DEPLOY_DEFAULTS.loginCommand,
    healthPath: options.healthPath ?? DEPLOY_DEFAULTS.healthPath,
    versionCheck: options.versionCheck ?? DEPLOY_DEFAULTS.versionCheck,
    checks: (options.readyChecks ?? []).map((c) => ({
      port: overridden(env, c.env, c.port, '--readyChecks port') as number,
      path: c.path,
    })),
    composeEnv,
    ...(input.acmeCaRoot ? { acmeCaRoot: input.acmeCaRoot } : {}),
  };
}
