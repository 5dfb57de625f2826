/**
 * The app's secrets for a release: the names the project declares (deploy option `secrets`),
 * with their values from the profile's source. Values never reach a command line, a log or the
 * plan; the playbook hands them to the host helper on stdin.
 */
import type { Profile } from '../../../core/profile';

export interface SecretsContext {
  req: { app: string; secrets?: string[]; workspaceRoot: string };
  env: NodeJS.ProcessEnv;
  profile: Profile;
}

/** undefined when the app declares no secrets. */
export async function releaseSecrets(
  ctx: SecretsContext,
): Promise<Record<string, string> | undefined> {
  const declared = ctx.req.secrets ?? [];
  if (declared.length === 0) return undefined;
  throw new Error(
    `${ctx.req.app} declares secrets (${declared.join(', ')}), but no secrets source is configured for profile "${ctx.profile.name}".`,
  );
}
