/**
 * Which release a deploy or rollback puts live, with its commit and image digests: decided on
 * this machine before the host is touched (the host never picks a tag).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { APP_ENV, Component, imageRef, registryPath, SECRET_ENV } from '../../../core/config/names';
import type { Profile } from '../../../core/config/profile';
import type { Secrets } from '../../../core/config/redact';
import type { HostRelease } from '../../../core/release/release';
import { parsePushRecord, PushRecord, pushRecordPath } from '../../../core/release/release';
import type { PlanInput } from '../../../core/release/release-plan';
import { chooseDeployTag, resolveGitSha, validateTag } from '../../../core/release/tags';
import type { SshSettings } from '../../../core/remote/ansible';
import type { AppPorts } from '../../../core/release/deploy-model';
import { gitCommitShortSha, gitHeadSha, gitShortSha } from '../../../shell/git';
import { RegistryClient } from '../../../shell/registry-client';
import { readHostStatus } from '../../../remote/helper';

export interface Target {
  release: PlanInput['target'];
  expectLive?: string;
}

interface TargetContext {
  req: { app: string; tag?: string; workspaceRoot: string };
  env: NodeJS.ProcessEnv;
  secrets: Secrets;
  profile: Profile;
  ssh: SshSettings;
  ports: AppPorts;
  where: string;
}

function components(ctx: TargetContext): Component[] {
  return ctx.ports.frontend === undefined ? ['backend'] : ['backend', 'frontend'];
}

function readPushRecord(root: string, app: string, profile: string): PushRecord | undefined {
  const file = pushRecordPath(app, profile);
  const path = join(root, file);
  return existsSync(path) ? parsePushRecord(readFileSync(path, 'utf8'), file) : undefined;
}

/** The digest of each image of a tag, as the registry has it (a missing image stops the deploy here). */
async function registryDigests(ctx: TargetContext, tag: string) {
  const { profile, env, req } = ctx;
  const user = env[SECRET_ENV.registryUser];
  const password = env[SECRET_ENV.registryPass];
  const client = new RegistryClient(
    profile.registry,
    user && password ? { user, password } : undefined,
  );
  const digests: Partial<Record<Component, string>> = {};
  for (const component of components(ctx)) {
    const manifest = await client.getManifest(
      registryPath(profile.registry_namespace, req.app, component),
      tag,
    );
    if (!manifest) {
      throw new Error(
        `Image ${imageRef(profile.registry, profile.registry_namespace, req.app, component, tag)} is not in the registry. ` +
          `Run nx run ${req.app}:build-push --configuration=${profile.name} first, or pass --tag of a pushed release. The host was not touched.`,
      );
    }
    digests[component] =
      manifest.digest || `sha256:${createHash('sha256').update(manifest.body).digest('hex')}`;
  }
  return digests;
}

/**
 * A deploy: the tag chooseDeployTag decides (--tag, else what build-push recorded for HEAD, else
 * IMAGE_TAG, else HEAD's short sha), with the release's own commit and the registry's digests.
 */
export async function deployTarget(ctx: TargetContext): Promise<Target> {
  const { req, env, profile } = ctx;
  const recordFile = pushRecordPath(req.app, profile.name);
  const record = readPushRecord(req.workspaceRoot, req.app, profile.name);
  const { tag } = chooseDeployTag({
    optionTag: req.tag,
    record,
    recordFile,
    headSha: await gitHeadSha(req.workspaceRoot),
    gitSha: resolveGitSha(env[APP_ENV.gitSha], await gitShortSha(req.workspaceRoot)),
    envImageTag: env[APP_ENV.imageTag],
  });
  // The release's own commit, which /metrics must report: the record's, or the commit the tag names.
  const gitSha =
    record && record.tag === tag && record.git_sha
      ? record.git_sha
      : (await gitCommitShortSha(req.workspaceRoot, tag)) === tag
        ? tag
        : (env[APP_ENV.gitSha] ?? '');
  return { release: { tag, gitSha, digests: await registryDigests(ctx, tag) } };
}

function releaseDigests(
  r: HostRelease | undefined | null,
): Partial<Record<Component, string>> | undefined {
  if (!r?.images) return undefined;
  const out: Partial<Record<Component, string>> = {};
  for (const [c, image] of Object.entries(r.images))
    if (image?.digest) out[c as Component] = image.digest;
  return out;
}

/** A rollback: --to, else the host's previous release, with the commit and digests it ran with. */
export async function rollbackTarget(ctx: TargetContext): Promise<Target> {
  const { req } = ctx;
  const { status } = await readHostStatus({ ...ctx, app: req.app });
  const live = status?.current?.tag;
  if (!status || !live)
    throw new Error(
      `${req.app} has no release on ${ctx.where} (deployed by this version of Conveyor): nothing to roll back.`,
    );
  const tag = req.tag ? validateTag(req.tag, '--to') : status.previous?.tag;
  if (!tag)
    throw new Error(`There is no previous release of ${req.app} on ${ctx.where} to roll back to.`);
  const known =
    status.releases?.[tag] ?? (status.previous?.tag === tag ? status.previous : undefined);
  const digests = releaseDigests(known);
  const complete = digests && components(ctx).every((c) => digests[c]);
  return {
    release: {
      tag,
      gitSha: known?.git_sha ?? '',
      digests: complete ? digests : await registryDigests(ctx, tag),
    },
    expectLive: live,
  };
}
