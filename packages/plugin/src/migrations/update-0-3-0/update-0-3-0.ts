/**
 * 0.2.0 -> 0.3.0: the host helper is the zipapp conveyor-host.pyz (the app's playbook installs
 * it byte for byte), so each app's owned files are rewritten to what this version generates; and
 * rollback, doctor and bootstrap read the app's ports, paths, strategy and gate from its deploy
 * target (one place per app). Their copies of deploy's options are removed from each
 * project.json; a copy that differed from deploy's is reported (with both values), since the
 * target now follows deploy. A monitoring stack is updated by running its generator again.
 */
import { getProjects, logger, Tree, updateProjectConfiguration } from '@nx/devkit';
import { deployUnits } from '../../core/workspace/deploy-units';
import { PLUGIN_NAME } from '../../core/config/names';
import bootstrapSchema from '../../executors/bootstrap/schema.json';
import doctorSchema from '../../executors/doctor/schema.json';
import rollbackSchema from '../../executors/rollback/schema.json';
import { updateOwnedFiles } from '../lib/update-owned-files';
import { pluginVersion, workspaceApps } from '../../generators/app/lib/owned-files';

/** The options each target keeps: its own schema's. */
const OWN: Record<string, string[]> = {
  rollback: Object.keys(rollbackSchema.properties),
  doctor: Object.keys(doctorSchema.properties),
  bootstrap: Object.keys(bootstrapSchema.properties),
};

type Options = Record<string, unknown>;

/** Removes from `options` what the target no longer has; returns the keys whose value differed from deploy's. */
function trim(options: Options | undefined, own: string[], deploy: Options): string[] {
  const differed: string[] = [];
  if (!options) return differed;
  for (const key of Object.keys(options)) {
    if (own.includes(key)) continue;
    if (JSON.stringify(options[key]) !== JSON.stringify(deploy[key]))
      differed.push(
        `${key}=${JSON.stringify(options[key])} (deploy: ${JSON.stringify(deploy[key]) ?? 'unset'})`,
      );
    delete options[key];
  }
  return differed;
}

export default async function update030(tree: Tree): Promise<void> {
  // Apps whose owned files an earlier migration of this run already wrote for this version
  // (update-0-2-0 from 0.1.0) are left as they are: an edited file it kept stays kept.
  if (workspaceApps(tree).some((a) => a.manifest && a.manifest.version !== pluginVersion()))
    await updateOwnedFiles(tree);
  for (const unit of deployUnits(getProjects(tree))) {
    const config = unit.project;
    const deploy = config.targets?.['deploy'];
    let changed = false;
    for (const [target, own] of Object.entries(OWN)) {
      const t = config.targets?.[target];
      if (!t || t.executor !== `${PLUGIN_NAME}:${target}`) continue;
      const before = JSON.stringify(t);
      const differed = trim(t.options as Options | undefined, own, unit.options);
      for (const [name, c] of Object.entries(t.configurations ?? {}))
        differed.push(
          ...trim(c as Options, own, {
            ...unit.options,
            ...((deploy?.configurations?.[name] ?? {}) as Options),
          }).map((d) => `${d} in configuration ${name}`),
        );
      if (differed.length)
        logger.warn(
          `${unit.name}:${target} set ${differed.join(', ')}: ${target} now reads these from ${unit.name}:deploy, so the value was removed. Set it on deploy if it was meant.`,
        );
      changed ||= JSON.stringify(t) !== before;
    }
    if (changed) updateProjectConfiguration(tree, unit.name, config);
    if ((config.tags ?? []).includes('conveyor:monitoring'))
      logger.warn(
        `${unit.name}: run nx g ${PLUGIN_NAME}:monitoring --deploy again to update the stack's playbook to this version's host helper.`,
      );
  }
}
