/**
 * A release over one SSH command: what the host helper's `release-bundle` writes before it
 * carries the plan out, decided here. It is what the app's playbook uploads (the plan, the compose
 * file, the compose override into each release folder or its removal, the hook before the
 * switch), so an app whose playbook is Conveyor's own and has no Ansible hooks can skip Ansible:
 * one connection instead of a playbook run. Pure.
 */
import type { ReleasePlan } from '../release/release-plan';
import { runFiles } from '../release/release-plan';
import { COMPOSE_OVERRIDE } from '../workspace/owned';
import type { Profile } from '../config/profile';

export interface BundleFile {
  path: string;
  content: string;
  /** Octal, as text ("600"). */
  mode: string;
}

export interface ReleaseBundle {
  /** The plan's path on the host (the helper runs it). */
  plan: string;
  files: BundleFile[];
  /** Files that must not be there (a compose override no longer in the workspace). */
  remove: string[];
  /** Registry login and the app's secrets: on stdin, never in a file of this machine or an argv. */
  auth: { user?: string; password?: string; secrets: Record<string, string> };
}

export interface BundleInput {
  plan: ReleasePlan;
  profile: Profile;
  compose: string;
  /** The override for this environment, else the app's, when one exists. */
  override?: string;
  /** The script run between the gate and the switch, when the app has one. */
  beforeSwitch?: string;
  auth: ReleaseBundle['auth'];
}

/** Where compose finds an override: each folder a release runs from. */
export function releaseFolders(appPath: string): string[] {
  return [appPath, `${appPath}/blue`, `${appPath}/green`];
}

export function releaseBundle(input: BundleInput): ReleaseBundle {
  const { plan } = input;
  const files = runFiles(plan.app, input.profile, plan.run_id);
  const bundle: ReleaseBundle = {
    plan: files.plan,
    files: [
      { path: files.plan, content: JSON.stringify(plan, null, 2), mode: '600' },
      { path: files.compose, content: input.compose, mode: '600' },
    ],
    remove: [],
    auth: input.auth,
  };
  for (const folder of releaseFolders(plan.app_path)) {
    const path = `${folder}/${COMPOSE_OVERRIDE}`;
    if (input.override === undefined) bundle.remove.push(path);
    else bundle.files.push({ path, content: input.override, mode: '640' });
  }
  if (input.beforeSwitch !== undefined)
    bundle.files.push({
      path: files.plan.replace(/[.]plan[.]json$/, '.before-switch'),
      content: input.beforeSwitch,
      mode: '700',
    });
  return bundle;
}
