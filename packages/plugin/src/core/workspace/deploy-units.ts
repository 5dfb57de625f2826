/**
 * Which projects are deploy units: those whose `deploy` target runs Conveyor's deploy executor.
 * The one scan, for the generators (monitoring targets, owned files, the workspace port check)
 * and the executors that read the deploy target (rollback, doctor, bootstrap). Pure.
 */
import type { ProjectConfiguration } from '@nx/devkit';
import { PLUGIN_NAME } from '../config/names';
import { validatePort } from '../config/ports';

export const DEPLOY_EXECUTOR = `${PLUGIN_NAME}:deploy`;

export interface DeployUnit {
  name: string;
  project: ProjectConfiguration;
  /** The deploy target's options (without a configuration). */
  options: Record<string, unknown>;
  /** The target's public ports, when its options give them (checked: a bad one is refused). */
  backendPort?: number;
  frontendPort?: number;
  /** Profiles the deploy target names: its default and its configurations'. */
  profiles: string[];
}

/** The deploy unit of one project, or undefined when it is not one. */
export function deployUnit(name: string, project: ProjectConfiguration): DeployUnit | undefined {
  const deploy = project.targets?.['deploy'];
  if (deploy?.executor !== DEPLOY_EXECUTOR) return undefined;
  const options = (deploy.options ?? {}) as Record<string, unknown>;
  const profiles = new Set<string>();
  if (typeof options['profile'] === 'string') profiles.add(options['profile']);
  for (const c of Object.values(deploy.configurations ?? {})) {
    const p = (c as Record<string, unknown>)['profile'];
    if (typeof p === 'string') profiles.add(p);
  }
  const unit: DeployUnit = { name, project, options, profiles: [...profiles] };
  for (const key of ['backendPort', 'frontendPort'] as const) {
    const value = options[key];
    if (value !== undefined && value !== null)
      unit[key] = validatePort(
        value,
        `${project.root}/project.json: targets.deploy.options.${key}`,
      );
  }
  return unit;
}

/** Every deploy unit of the workspace, by project name. */
export function deployUnits(projects: Iterable<[string, ProjectConfiguration]>): DeployUnit[] {
  const units: DeployUnit[] = [];
  for (const [name, project] of projects) {
    const unit = deployUnit(name, project);
    if (unit) units.push(unit);
  }
  return units.sort((a, b) => a.name.localeCompare(b.name));
}

/** A deploy unit the app generator made (tagged conveyor:app). */
export function isApp(unit: DeployUnit): boolean {
  return (unit.project.tags ?? []).includes('conveyor:app');
}
