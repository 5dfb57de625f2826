/**
 * 0.1.0 -> 0.2.0: the deploy protocol moved to the host helper shipped in the plugin. The app's
 * Ansible folder shrinks to playbook.yml, ansible.cfg, inventory/ and README.md (tasks/,
 * templates/ and files/ are removed unless edited); owned files get their header and a manifest
 * (conveyor.json); the deploy unit gets status, history and the sync generator; the CI workflow
 * runs nx sync:check.
 */
import { Tree } from '@nx/devkit';
import { join } from 'node:path';
import { templateVariables } from '../../generators/app/lib/create-files';
import { renderTemplates } from '../../generators/app/lib/owned-files';
import { Baseline, updateOwnedFiles } from '../lib/update-owned-files';

/** 0.1.0 wrote no manifest: what it wrote is regenerated from its templates (kept here). */
export const baseline010: Baseline = {
  version: '0.1.0',
  render: (o) =>
    renderTemplates(join(__dirname, 'files-0.1.0'), {
      ...templateVariables(o),
      offsetFromRoot: '',
    }),
};

export default async function update020(tree: Tree): Promise<void> {
  await updateOwnedFiles(tree, baseline010);
}
