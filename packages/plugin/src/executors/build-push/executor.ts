import { profileName } from '../../core/release/deploy-model';
import type { ExecutorContext } from '@nx/devkit';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildArgsFor, buildCommand, ociLabels, pushCommand } from '../../core/image/engine';
import { contentHash } from '../../core/image/hash';
import { planDockerfile } from '../../core/image/oci/dockerfile';
import { APP_ENV, BUILD_INFO_FILE, registryHost, SECRET_ENV } from '../../core/config/names';
import { loadProfile } from '../../core/config/profile';
import { redactUrlCredentials, secretValues } from '../../core/config/redact';
import { PushedImage, PushRecord, pushRecordPath } from '../../core/release/release';
import { checkRecordTag, resolveGitSha, resolveTag } from '../../core/release/tags';
import { stageContext, readTree } from '../../shell/context';
import { resolveEngine } from '../../shell/engine-runner';
import { gitHeadSha, gitRemoteUrl, gitShortSha } from '../../shell/git';
import { log } from '../../shell/log';
import { RegistryClient, RegistryCredentials } from '../../shell/registry-client';
import { runOrThrow } from '../../shell/run';
import { typedOption } from '../command-line';
import {
  assemble,
  NoBaseInRegistry,
  pushAssembled,
  readContext,
  resolveBase,
} from './lib/assemble';
import { EngineSession, openEngineSession } from './lib/engine-session';
import { ImagePlan, planImage, validateBuildArgs, validateImages } from './lib/plan';
import type { BuildPushExecutorSchema } from './schema';

function credentials(env: NodeJS.ProcessEnv): RegistryCredentials | undefined {
  const user = env[SECRET_ENV.registryUser];
  const password = env[SECRET_ENV.registryPass];
  if (!user && !password) return undefined;
  if (!user || !password) {
    throw new Error(
      `Set both ${SECRET_ENV.registryUser} and ${SECRET_ENV.registryPass} (or neither to skip the registry login).`,
    );
  }
  return { user, password };
}

/** Rewrites the staged build-info so the image reports the tag it is pushed under. */
function stampBuildInfo(contextDir: string, tag: string, gitSha: string | undefined): void {
  const file = join(contextDir, BUILD_INFO_FILE);
  let info: Record<string, unknown>;
  try {
    info = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return;
  }
  const images = info['images'] as Record<string, string | null> | undefined;
  const oldTag = String(info['image_tag'] ?? '');
  info['image_tag'] = tag;
  if (gitSha) info['git_sha'] = gitSha;
  if (images && oldTag) {
    for (const k of Object.keys(images))
      images[k] = images[k]?.replace(new RegExp(`:${oldTag}$`), `:${tag}`) ?? null;
  }
  writeFileSync(file, JSON.stringify(info, null, 2) + '\n');
}

export default async function buildPush(
  options: BuildPushExecutorSchema,
  context: ExecutorContext,
): Promise<{ success: boolean }> {
  const env = process.env;
  const secrets = secretValues(env);
  const staged: string[] = [];
  const started = Date.now();
  // The engine, found (and logged in, in a private folder) only when an image needs it.
  let engineReady: Promise<EngineSession> | undefined;
  try {
    const app = context.projectName as string;
    const images = validateImages(options.images);
    const buildArgs = validateBuildArgs(options.buildArgs);
    const profileId = profileName(options);
    const profile = loadProfile(context.root, profileId, env, {
      require: ['registry', 'registry_namespace'],
    });
    const gitSha = resolveGitSha(env[APP_ENV.gitSha], await gitShortSha(context.root));
    // The commit built, in full: deploy compares it with the commit checked out.
    const commit = await gitHeadSha(context.root);
    const tag = resolveTag({
      option: typedOption(context, 'tag', options.tag),
      envImageTag: env[APP_ENV.imageTag],
      gitSha,
    });
    const push = options.push ?? true;
    const creds = credentials(env);
    const registry = registryHost(profile.registry);
    log.info(
      `build-push ${app}: tag ${tag}, registry ${redactUrlCredentials(profile.registry)}, profile ${profileId}`,
    );

    const client = new RegistryClient(profile.registry, creds);
    if (push) await client.ping();
    const engine = () =>
      (engineReady ??= (async () => {
        const found = await resolveEngine(options.engine, env);
        log.info(`  engine ${found}`);
        return openEngineSession(
          found,
          env,
          push && creds ? { registry, ...creds } : undefined,
          secrets,
        );
      })());

    const source = await gitRemoteUrl(context.root);
    const pushed: Partial<Record<string, PushedImage & { assembled?: boolean }>> = {};
    for (const spec of images) {
      const contextDir = stageContext(
        context.root,
        spec.context,
        `build the ${spec.component} first (nx run ${app}:build-push runs its dependencies' build and metrics-inject).`,
      );
      staged.push(contextDir);
      stampBuildInfo(contextDir, tag, gitSha);
      const dockerfilePath = join(context.root, spec.dockerfile);
      let dockerfile: string;
      try {
        dockerfile = readFileSync(dockerfilePath, 'utf8');
      } catch {
        throw new Error(
          `${spec.dockerfile} does not exist (images[].dockerfile of ${app}:build-push).`,
        );
      }
      const args = buildArgsFor(dockerfile, buildArgs);
      const hash = contentHash({ dockerfile, files: readTree(contextDir), buildArgs: args });
      const plan = planImage({
        spec,
        app,
        registry: profile.registry,
        namespace: profile.registry_namespace,
        tag,
        hash,
      });
      const build: BuildContext = {
        engine,
        buildArgs: args,
        tag,
        gitSha,
        source,
        app,
        dockerfilePath,
        dockerfile,
        contextDir,
        secrets,
        assemble: options.assemble ?? true,
      };
      pushed[spec.component] = push
        ? await reuseOrBuildAndPush(plan, { ...build, client })
        : await buildOnly(plan, build);
    }

    const record: PushRecord = {
      app,
      profile: profileId,
      tag,
      git_sha: gitSha ?? '',
      ...(commit ? { commit } : {}),
      registry,
      namespace: profile.registry_namespace,
      pushed: push,
      images: pushed,
      at: new Date().toISOString(),
    };
    // What deploy reads back is held to the check deploy applies to it.
    checkRecordTag(record.tag, pushRecordPath(app, profileId));
    const recordFile = join(context.root, pushRecordPath(app, profileId));
    mkdirSync(dirname(recordFile), { recursive: true });
    writeFileSync(recordFile, JSON.stringify(record, null, 2) + '\n');
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    for (const [component, image] of Object.entries(pushed)) {
      log.info(
        `  ${component}: ${image?.ref} ${image?.reused ? '(unchanged: re-tagged, not rebuilt)' : push ? `(${image?.assembled ? 'assembled' : 'built'} and pushed)` : '(built)'} ${image?.digest ?? ''}`,
      );
    }
    log.info(
      `build-push ${app} done in ${seconds}s; recorded in ${pushRecordPath(app, profileId)}`,
    );
    return { success: true };
  } catch (error) {
    log.error(`build-push failed: ${(error as Error).message}`);
    return { success: false };
  } finally {
    await engineReady?.then(
      (session) => session.close(),
      () => undefined,
    );
    for (const dir of staged) rmSync(dir, { recursive: true, force: true });
  }
}

interface BuildContext {
  engine: () => Promise<EngineSession>;
  buildArgs: Record<string, string>;
  tag: string;
  gitSha?: string;
  source?: string;
  app: string;
  dockerfilePath: string;
  dockerfile: string;
  contextDir: string;
  secrets: string[];
  /** Assembly allowed (--assemble, default true). */
  assemble: boolean;
}

function labelsFor(plan: ImagePlan, c: BuildContext): Record<string, string> {
  return ociLabels({
    gitSha: c.gitSha,
    tag: c.tag,
    source: c.source,
    title: `${c.app}${plan.spec.component === 'backend' ? '_backend' : '_frontend'}`,
  });
}

async function build(plan: ImagePlan, c: BuildContext): Promise<EngineSession> {
  const session = await c.engine();
  log.info(`  ${plan.spec.component}: building ${plan.ref}`);
  await runOrThrow(
    buildCommand(session.engine, {
      dockerfile: c.dockerfilePath,
      contextDir: c.contextDir,
      tags: [plan.ref],
      buildArgs: c.buildArgs,
      labels: labelsFor(plan, c),
    }),
    `Building the ${plan.spec.component} image (${plan.spec.dockerfile})`,
    { secrets: c.secrets, env: session.env },
  );
  return session;
}

async function buildOnly(plan: ImagePlan, c: BuildContext): Promise<PushedImage> {
  await build(plan, c);
  return { ref: plan.ref, digest: '', contentHash: plan.contentTag, reused: false };
}

/**
 * Assembles and pushes the image over the registry API when its Dockerfile and base allow it;
 * undefined (and one line saying why) when the engine must build it.
 */
async function tryAssemble(
  plan: ImagePlan,
  c: BuildContext & { client: RegistryClient },
): Promise<string | undefined> {
  const what = `  ${plan.spec.component}:`;
  if (!c.assemble) return undefined;
  const decided = planDockerfile(c.dockerfile, c.buildArgs);
  if (decided.kind === 'engine') {
    log.info(`${what} built by the engine: ${plan.spec.dockerfile} ${decided.reason}`);
    return undefined;
  }
  let base;
  try {
    base = await resolveBase(decided.base, c.client);
  } catch (error) {
    if (!(error instanceof NoBaseInRegistry)) throw error;
    log.info(`${what} built by the engine: ${error.message}`);
    return undefined;
  }
  const image = await assemble(decided, base, readContext(c.contextDir), labelsFor(plan, c));
  // The content tag goes last: it only ever names an image pushed whole.
  const { digest, stats } = await pushAssembled(c.client, plan.repository, image, base, [
    c.tag,
    plan.contentTag,
  ]);
  const moved = [
    stats.mounted && `${stats.mounted} base layers mounted from ${base.ref.repository}`,
    stats.copied && `${stats.copied} base layers copied from ${base.ref.registry}`,
    `${stats.uploaded} blobs uploaded`,
    stats.present && `${stats.present} already there`,
  ].filter(Boolean);
  log.info(`${what} assembled ${plan.ref} on ${decided.base} (${moved.join(', ')})`);
  return digest;
}

async function reuseOrBuildAndPush(
  plan: ImagePlan,
  c: BuildContext & { client: RegistryClient },
): Promise<PushedImage & { assembled?: boolean }> {
  const existing = await c.client.getManifest(plan.repository, plan.contentTag);
  if (existing) {
    const digest =
      (await c.client.putManifest(plan.repository, c.tag, existing)) || existing.digest;
    return { ref: plan.ref, digest, contentHash: plan.contentTag, reused: true };
  }
  const assembled = await tryAssemble(plan, c);
  if (assembled) {
    return {
      ref: plan.ref,
      digest: assembled,
      contentHash: plan.contentTag,
      reused: false,
      assembled: true,
    };
  }
  const session = await build(plan, c);
  log.info(`  ${plan.spec.component}: pushing ${plan.ref}`);
  await runOrThrow(pushCommand(session.engine, plan.ref), `Pushing ${plan.ref}`, {
    secrets: c.secrets,
    env: session.env,
  });
  const manifest = await c.client.getManifest(plan.repository, c.tag);
  if (!manifest) throw new Error(`${plan.ref} was pushed but the registry does not list it.`);
  // The content tag goes last, added in the registry to the manifest just pushed (no second
  // push): it only exists for images that were pushed whole.
  await c.client.putManifest(plan.repository, plan.contentTag, manifest);
  return { ref: plan.ref, digest: manifest.digest, contentHash: plan.contentTag, reused: false };
}
