/** The build-info file the generated backend serves at /metrics. */
import { imageRef, registryHost } from '../config/names';

export interface BuildInfo {
  git_sha: string;
  image_tag: string;
  profile: { active: string; registry: string };
  registry_namespace: string;
  images: { backend: string; frontend: string | null };
  built_at: string;
}

export function buildInfo(input: {
  app: string;
  hasFrontend: boolean;
  gitSha: string;
  tag: string;
  profile: string;
  registry: string;
  namespace: string;
  now: Date;
}): BuildInfo {
  return {
    git_sha: input.gitSha,
    image_tag: input.tag,
    profile: { active: input.profile, registry: registryHost(input.registry) },
    registry_namespace: input.namespace,
    images: {
      backend: imageRef(input.registry, input.namespace, input.app, 'backend', input.tag),
      frontend: input.hasFrontend
        ? imageRef(input.registry, input.namespace, input.app, 'frontend', input.tag)
        : null,
    },
    built_at: input.now.toISOString(),
  };
}
