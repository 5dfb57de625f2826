import { APP_ENV, envVarDocs, SECRET_ENV, sshVars, TOOL_ENV } from '../../../core/config/names';

/**
 * Which of the variables Conveyor reads (names.ts) each job of the generated workflow gets, and
 * how the workflow takes them from GitHub: a secret is `secrets.NAME`; any other setting is
 * `secrets.NAME || vars.NAME`, so it may be a secret or a plain (visible) variable.
 */

export type Environment = 'staging' | 'production';

const SECRET = new Set(
  envVarDocs()
    .filter((d) => d.secret)
    .map((d) => d.name),
);

export function isSecret(name: string): boolean {
  return SECRET.has(name);
}

/** The expression a workflow uses to read one variable from the repository or environment. */
export function githubValue(name: string): string {
  return isSecret(name) ? `\${{ secrets.${name} }}` : `\${{ secrets.${name} || vars.${name} }}`;
}

/** What build-push and deploy need to reach the registry. */
export const REGISTRY_VARS: readonly string[] = [
  APP_ENV.registryUrl,
  APP_ENV.registryNs,
  SECRET_ENV.registryUser,
  SECRET_ENV.registryPass,
];

/** The Telegram settings, read by the deploy executor and by the workflow's own notices. */
export const TELEGRAM_VARS: readonly string[] = [
  SECRET_ENV.telegramToken,
  TOOL_ENV.telegramChatId,
  TOOL_ENV.telegramApiUrl,
];

/**
 * The per-environment settings of one environment (host, user, port, folder, compose command,
 * host keys, and whatever names.ts adds there), except the registry override, which only the
 * local profile reads.
 */
export function serverVars(environment: Environment): string[] {
  const { registry, ...server } = sshVars(environment);
  void registry;
  return Object.values(server);
}

/** Everything a deploy to one environment reads. */
export function deployVars(environment: Environment): string[] {
  return [
    ...REGISTRY_VARS,
    SECRET_ENV.sshKeyB64,
    // An environment secret: staging and production each decrypt their own config/secrets file.
    SECRET_ENV.secretsKey,
    ...serverVars(environment),
    TOOL_ENV.proxyImage,
    ...TELEGRAM_VARS,
  ];
}

export function envBlock(names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, githubValue(name)]));
}

export interface CiVariable {
  name: string;
  secret: boolean;
  doc: string;
  /** The jobs of the generated workflow that read it. */
  jobs: string[];
}

/** Every variable the generated workflow reads, for docs (DEPLOY_STAGING.md, README). */
export function ciVariables(): CiVariable[] {
  const docs = new Map(envVarDocs().map((d) => [d.name, d.doc]));
  const jobs = new Map<string, string[]>();
  const add = (job: string, names: readonly string[]) => {
    for (const name of names) jobs.set(name, [...(jobs.get(name) ?? []), job]);
  };
  add('build', REGISTRY_VARS);
  add('deploy', deployVars('staging'));
  add('preview', REGISTRY_VARS);
  add('preview', deployVars('staging'));
  add('preview-destroy', deployVars('staging'));
  add('promote', deployVars('production'));
  add('notify', TELEGRAM_VARS);
  return [...jobs.entries()].map(([name, usedBy]) => ({
    name,
    secret: isSecret(name),
    doc: docs.get(name) ?? '',
    jobs: [...new Set(usedBy)],
  }));
}
