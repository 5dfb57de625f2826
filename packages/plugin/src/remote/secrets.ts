/**
 * The app's secrets for a release: the names the project declares (deploy option `secrets`),
 * with their values from the profile's source (config/secrets/<profile>.vault, or the profile's
 * secrets_command). Values never reach a command line, a log or the plan; the playbook hands them
 * to the host helper on stdin. Every failure here comes before the host is touched.
 */
import type { ExecutorContext } from '@nx/devkit';
import type { Profile } from '../core/config/profile';
import { missingMessage, missingSecrets, pick } from '../core/config/secrets';
import { readSecrets, secretsSource } from '../shell/secrets-store';
import type { PrivateDir } from '../shell/temp';

export interface SecretsContext {
  req: { app: string; secrets?: string[]; workspaceRoot: string };
  env: NodeJS.ProcessEnv;
  profile: Profile;
  /** Values redacted from anything printed. */
  secrets: string[];
  /** Private folder of this run (the key file for ansible-vault). */
  dir: PrivateDir;
}

/** The names the app declares: the target's own option, else its deploy target's. */
export function declaredSecrets(
  options: { secrets?: string[] },
  context: Pick<ExecutorContext, 'projectName' | 'projectsConfigurations'>,
): string[] {
  if (options.secrets) return options.secrets;
  const project = context.projectsConfigurations?.projects[context.projectName ?? ''];
  const deploy = project?.targets?.['deploy']?.options as { secrets?: string[] } | undefined;
  return deploy?.secrets ?? [];
}

/** undefined when the app declares no secrets. */
export async function releaseSecrets(
  ctx: SecretsContext,
): Promise<Record<string, string> | undefined> {
  const declared = ctx.req.secrets ?? [];
  if (declared.length === 0) return undefined;
  const source = secretsSource({ workspaceRoot: ctx.req.workspaceRoot, profile: ctx.profile });
  const all = await readSecrets(
    {
      workspaceRoot: ctx.req.workspaceRoot,
      env: ctx.env,
      profile: ctx.profile,
      redactions: ctx.secrets,
      dir: ctx.dir,
    },
    source,
  );
  const missing = missingSecrets(declared, all);
  if (missing.length > 0)
    throw new Error(missingMessage(ctx.req.app, ctx.profile.name, source.label, missing));
  return pick(declared, all);
}
