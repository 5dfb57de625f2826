import { getProjects, joinPathFragments, Tree } from '@nx/devkit';
import { parse } from 'yaml';
import {
  environmentTargets,
  resolveValue,
  type EnvironmentTargets,
  type Resolved,
} from '../../../core/monitoring/monitoring';
import { DeployUnit, deployUnits, isApp } from '../../../core/workspace/deploy-units';
import { PROFILES_DIR } from '../../../core/config/names';
import type { Env } from '../../../core/config/profile';
import type { TlsTarget } from '../../../core/monitoring/certificates';
import { MonitoringOptionsError } from './normalize-options';

/** A Conveyor app as its deploy-unit project describes it. */
export interface MonitoredApp {
  app: string;
  backendPort: number;
  ansibleDir?: string;
  /** Profiles its deploy target names (default profile and configurations). */
  profiles: string[];
  /** The deploy target's own domain per profile (over the profile's domain). */
  domains: Record<string, string>;
}

/** The deploy target's `domain` option per profile: its configurations', and its default's. */
function targetDomains(u: DeployUnit): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (o: Record<string, unknown> | undefined, fallbackProfile?: unknown) => {
    const profile = o?.['profile'] ?? fallbackProfile;
    if (typeof profile === 'string' && typeof o?.['domain'] === 'string' && o['domain'].trim())
      out[profile] = o['domain'].trim().toLowerCase();
  };
  add(u.options);
  for (const c of Object.values(u.project.targets?.['deploy']?.configurations ?? {}))
    add({ ...u.options, ...c }, u.options['profile']);
  return out;
}

/** The apps (deploy units tagged conveyor:app) with a backend port. */
export function findApps(tree: Tree): MonitoredApp[] {
  return deployUnits(getProjects(tree))
    .filter((u) => isApp(u) && u.backendPort !== undefined)
    .map((u) => ({
      app: u.name,
      backendPort: u.backendPort as number,
      ansibleDir: typeof u.options['ansibleDir'] === 'string' ? u.options['ansibleDir'] : undefined,
      profiles: u.profiles,
      domains: targetDomains(u),
    }));
}

export function profileFile(env: string): string {
  return `${PROFILES_DIR}/${env}.yml`;
}

/** The profile's ssh_host with its references resolved from `env`; `localhost` for a local profile. */
export function profileHost(tree: Tree, env: string, vars: Env): Resolved {
  const file = profileFile(env);
  let doc: unknown;
  try {
    doc = parse(tree.read(file, 'utf-8') ?? '');
  } catch {
    throw new MonitoringOptionsError(`${file} is not valid YAML.`);
  }
  const raw = (doc ?? {}) as Record<string, unknown>;
  const host = raw['ssh_host'];
  if (host === undefined || host === null || String(host).trim() === '') {
    return raw['connection'] === 'local'
      ? { value: 'localhost' }
      : { variable: `${file} ssh_host` };
  }
  return resolveValue(String(host), vars);
}

/** The environments to scrape and, per app and environment, its targets. */
export function collectTargets(
  tree: Tree,
  apps: MonitoredApp[],
  environments: string[] | undefined,
  vars: Env,
): { environments: string[]; targets: EnvironmentTargets[] } {
  const used = environments ?? [...new Set(apps.flatMap((a) => a.profiles))].sort();
  const missing = used.filter((env) => !tree.exists(profileFile(env)));
  if (environments && missing.length > 0) {
    throw new MonitoringOptionsError(
      `--environments: ${missing.map(profileFile).join(', ')} ${missing.length === 1 ? 'does' : 'do'} not exist.`,
    );
  }
  const envs = used.filter((env) => tree.exists(profileFile(env)));
  const targets: EnvironmentTargets[] = [];
  for (const env of envs) {
    const host = profileHost(tree, env, vars);
    for (const app of apps) {
      const inventoryPath = app.ansibleDir
        ? joinPathFragments(app.ansibleDir, 'inventory', env)
        : undefined;
      const inventory =
        inventoryPath && tree.exists(inventoryPath)
          ? { file: inventoryPath, text: tree.read(inventoryPath, 'utf-8') ?? '' }
          : undefined;
      targets.push(
        environmentTargets({
          app: app.app,
          env,
          port: app.backendPort,
          profileHost: host,
          inventory,
          profileFile: profileFile(env),
        }),
      );
    }
  }
  return { environments: envs, targets };
}

/**
 * The apps' domains, per environment whose profile sets one (its ${VAR} references resolved from
 * `vars`; an unresolved or empty domain, or tls: off, has none): what the blackbox exporter probes.
 */
export function collectTlsTargets(
  tree: Tree,
  apps: MonitoredApp[],
  environments: string[],
  vars: Env,
): TlsTarget[] {
  const out: TlsTarget[] = [];
  for (const env of environments) {
    const raw = (parse(tree.read(profileFile(env), 'utf-8') ?? '') ?? {}) as Record<
      string,
      unknown
    >;
    const value = (key: string, fallback: string) => {
      const r =
        raw[key] === undefined || raw[key] === null
          ? { value: fallback }
          : resolveValue(String(raw[key]), vars);
      return 'value' in r ? r.value.trim() : '';
    };
    const port = Number(value('edge_https_port', '443')) || 443;
    for (const app of apps.filter((a) => a.profiles.includes(env))) {
      const domain = app.domains[env] ?? value('domain', '').toLowerCase();
      const tls = value('tls', '');
      if (domain && tls !== 'off') out.push({ app: app.app, env, domain, port });
    }
  }
  return out;
}
