import type { ExecutorContext } from '@nx/devkit';
import { loadProfile, projectPrefix, type Profile } from '../../core/config/profile';
import { edgePlan, edgeUrl } from '../../core/edge/edge';
import { DeployModel, previewHosts, profileName } from '../../core/release/deploy-model';
import {
  checkPreviews,
  expiredPreviews,
  formatAge,
  parsePr,
  previewEnv,
  previewPorts,
  previewProfile,
  PreviewOnHost,
} from '../../core/release/preview';
import { typedOption } from '../command-line';
import { deployer, sshSettings } from '../../remote/connection';
import { conveyorExecutor, ExecutorRun } from '../../remote/executor';
import { loadDeployModel } from '../../remote/inventory';
import { destroyPreview, listPreviews } from '../../remote/previews';
import { runRelease } from '../deploy/lib/release-run';
import { withDeployOptions } from '../deploy-target';
import type { PreviewExecutorSchema } from './schema';

type Mode = { kind: 'deploy'; pr: number } | { kind: 'destroy'; pr: number } | { kind: 'prune' };

/** What the command line asks for, checked: --pr, --pr with --destroy, or --prune alone. */
function modeOf(o: PreviewExecutorSchema): Mode {
  if (o.prune) {
    if (o.pr !== undefined || o.destroy) throw new Error('--prune takes no --pr or --destroy.');
    return { kind: 'prune' };
  }
  if (o.pr === undefined) throw new Error('give --pr=<pull request number> (or --prune).');
  return { kind: o.destroy ? 'destroy' : 'deploy', pr: parsePr(o.pr) };
}

interface Site {
  run: ExecutorRun;
  model: DeployModel;
  ssh: ReturnType<typeof sshSettings>;
  /** The previews each host of the profile holds (by the host's index in model.hosts). */
  onHosts: PreviewOnHost[][];
}

/** The profile's hosts with the previews each holds. */
async function site(run: ExecutorRun, options: ReturnType<typeof withDeployOptions>) {
  const profile = loadProfile(run.root, profileName(options), run.env);
  checkPreviews(profile);
  const model = await loadDeployModel(run.root, run.app, options, profile, run.env, run.secrets);
  const ssh = sshSettings(profile, run.env, run.dir);
  const call = (h: Profile) => ({ profile: h, app: run.app, ssh, secrets: run.secrets });
  const onHosts = await Promise.all(model.hosts.map((h) => listPreviews(call(h.profile))));
  return { run, model, ssh, onHosts } satisfies Site;
}

/** Removes the preview of `pr` from host i (its own helper, its own lock). */
async function remove(s: Site, i: number, pr: number, ports: PreviewOnHost['ports']) {
  const own = ports.backend === undefined ? s.model.ports : ports;
  const [h] = previewHosts([s.model.hosts[i]], { pr, ports: own });
  const { profile } = h;
  const edge = edgePlan(s.run.app, profile, own, {
    healthPath: s.model.healthPath,
    versionCheck: false,
  });
  const r = await destroyPreview(
    { profile, app: s.run.app, ssh: s.ssh, secrets: s.run.secrets },
    {
      engine_command: s.model.engineCommand,
      compose_command: profile.compose_command,
      project_prefix: projectPrefix(s.run.app, profile, h.projectPrefix),
      who: deployer(s.run.env),
      lock_timeout: s.model.lockTimeout,
      ...(edge ? { edge } : {}),
    },
  );
  s.run.say(`${h.name}: ${previewEnv(pr)} of ${s.run.app}: ${r.message}`);
}

/** Removes every preview older than the profile's preview_ttl (except `keep`). */
async function prune(s: Site, keep?: number) {
  const ttl = s.model.profile.preview_ttl;
  for (const [i, list] of s.onHosts.entries())
    for (const p of expiredPreviews(list, ttl, new Date()).filter((p) => p.pr !== keep)) {
      s.run.say(`${previewEnv(p.pr)} is older than preview_ttl (${formatAge(ttl)}): removing it.`);
      await remove(s, i, p.pr, p.ports);
    }
}

/** Removes the preview of `pr` from every host that holds one. */
async function destroy(s: Site, pr: number) {
  for (const [i, list] of s.onHosts.entries()) {
    const found = list.find((p) => p.pr === pr);
    if (found) await remove(s, i, pr, found.ports);
    else s.run.say(`${s.model.hosts[i].name}: no ${previewEnv(pr)} of ${s.run.app} here.`);
  }
}

/** Before a preview deploy: expired previews pruned, and the ports this one takes on every host. */
async function portsFor(s: Site, pr: number, dryRun: boolean) {
  if (!dryRun) await prune(s, pr);
  const withFrontend = s.model.ports.frontend !== undefined;
  return previewPorts(s.model.profile, s.run.app, pr, withFrontend, s.onHosts.flat());
}

/**
 * A pull request's preview: deployed as environment pr-<n> with ports no other preview on the
 * hosts holds (expired previews pruned first), removed with --destroy, or old ones pruned.
 */
export default async function preview(options: PreviewExecutorSchema, context: ExecutorContext) {
  const { pr, destroy: destroying, prune: pruning, tag, dryRun, ...own } = options;
  let deploy: ReturnType<typeof withDeployOptions<typeof own>> | undefined;
  let release: { pr: number; ports: PreviewOnHost['ports'] } | undefined;
  let url = '';
  const ready = await conveyorExecutor('preview', context, async (run) => {
    const mode = modeOf({ pr, destroy: destroying, prune: pruning });
    deploy = withDeployOptions(own, context);
    const s = await site(run, deploy);
    if (mode.kind === 'prune') await prune(s);
    else if (mode.kind === 'destroy') await destroy(s, mode.pr);
    else {
      release = { pr: mode.pr, ports: await portsFor(s, mode.pr, Boolean(dryRun)) };
      const { domain, edge_https_port } = previewProfile(s.model.profile, mode.pr);
      url = edgeUrl({ domain: domain as string, https_port: edge_https_port });
    }
    return true;
  });
  if (!ready.success || !release || !deploy) return ready;
  const released = await runRelease({
    ...deploy,
    tag: typedOption(context, 'tag', tag),
    dryRun,
    action: 'deploy',
    app: context.projectName as string,
    workspaceRoot: context.root,
    preview: release,
  });
  // The line the generated workflow comments on the pull request.
  if (released.success && !dryRun)
    console.log(`Preview of ${context.projectName} for PR ${release.pr}: ${url}`);
  return released;
}
