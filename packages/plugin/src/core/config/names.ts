/**
 * One source of truth for names: projects, paths, image references and the
 * environment variables Conveyor reads. Generators, executors, templates and
 * docs all take these from here.
 */

export const PLUGIN_NAME = '@conveyor/plugin';

/** Profiles written by `init`; a workspace may add more. */
export const DEFAULT_PROFILES = ['local', 'staging', 'production'] as const;
export const PROFILES_DIR = 'config/profiles';
export const BUILD_INFO_FILE = 'build-info.json';
/** Where build-push records what it pushed (read by deploy). */
export const RELEASE_RECORD_DIR = 'dist/conveyor';

export type Component = 'backend' | 'frontend';
export const COMPONENTS: readonly Component[] = ['backend', 'frontend'];
export const IMAGE_SUFFIX: Record<Component, string> = {
  backend: '_backend',
  frontend: '_frontend',
};

/** Container-side ports (host ports are BACKEND_PORT / FRONTEND_PORT). */
export const CONTAINER_PORT: Record<Component, number> = { backend: 8080, frontend: 80 };

/** Environment variables read at run time by the generated backend. */
export const APP_ENV = {
  gitSha: 'GIT_SHA',
  imageTag: 'IMAGE_TAG',
  profile: 'CONVEYOR_PROFILE',
  registryUrl: 'REGISTRY_URL',
  registryNs: 'REGISTRY_NS',
  port: 'PORT',
  /** Set by the deploy on the host (.env): when this release went live, ISO 8601. */
  deployedAt: 'CONVEYOR_DEPLOYED_AT',
} as const;

/** Every variable the plugin reads, with the one-line meaning written to env.example. */
export interface EnvVarDoc {
  name: string;
  doc: string;
  example?: string;
  secret?: boolean;
}

export function environmentPrefix(profile: string): string {
  return profile.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** Per-environment variable names (STAGING_SSH_HOST, PRODUCTION_SSH_HOST, ...). */
export function sshVars(profile: string) {
  const p = environmentPrefix(profile);
  return {
    registry: `${p}_REGISTRY_URL`,
    host: `${p}_SSH_HOST`,
    user: `${p}_SSH_USER`,
    port: `${p}_SSH_PORT`,
    deployPath: `${p}_DEPLOY_PATH`,
    composeCommand: `${p}_COMPOSE_COMMAND`,
    knownHosts: `${p}_SSH_KNOWN_HOSTS`,
    strategy: `${p}_DEPLOY_STRATEGY`,
    drainSeconds: `${p}_DRAIN_SECONDS`,
    secretsCommand: `${p}_SECRETS_COMMAND`,
    rolloutBatches: `${p}_ROLLOUT_BATCHES`,
    rolloutWait: `${p}_ROLLOUT_WAIT`,
    domain: `${p}_DOMAIN`,
    tls: `${p}_TLS`,
    previewDomain: `${p}_PREVIEW_DOMAIN`,
    previewTtl: `${p}_PREVIEW_TTL`,
    previewPorts: `${p}_PREVIEW_PORTS`,
    database: `${p}_DATABASE`,
    databaseBackupsKeep: `${p}_DATABASE_BACKUPS_KEEP`,
    databaseBackupCommand: `${p}_DATABASE_BACKUP_COMMAND`,
  };
}

export const SECRET_ENV = {
  registryUser: 'REGISTRY_USER',
  registryPass: 'REGISTRY_PASS',
  sshKeyB64: 'SSH_KEY_B64',
  telegramToken: 'TELEGRAM_TOKEN',
  /** The key of config/secrets/<profile>.vault (in CI: a secret of each environment). */
  secretsKey: 'CONVEYOR_SECRETS_KEY',
} as const;

export const TOOL_ENV = {
  engine: 'CONVEYOR_CONTAINER_ENGINE',
  telegramChatId: 'TELEGRAM_CHAT_ID',
  telegramApiUrl: 'TELEGRAM_API_URL',
  backendPort: 'BACKEND_PORT',
  frontendPort: 'FRONTEND_PORT',
  proxyImage: 'PROXY_IMAGE',
  /**
   * Prefix of a release's published ports: empty (all addresses, recreate) or "127.0.0.1:" (a blue-green colour).
   * An explicit "0.0.0.0:" would stop Podman forwarding 127.0.0.1, which the health checks use.
   */
  bindPrefix: 'CONVEYOR_BIND_PREFIX',
  /** A file holding the key of config/secrets/<profile>.vault (instead of CONVEYOR_SECRETS_KEY). */
  secretsKeyFile: 'CONVEYOR_SECRETS_KEY_FILE',
  acmeEmail: 'ACME_EMAIL',
  acmeCa: 'ACME_CA',
  acmeCaRoot: 'ACME_CA_ROOT',
  acmeRenewalWindow: 'ACME_RENEWAL_WINDOW',
  edgeImage: 'EDGE_IMAGE',
  edgePath: 'EDGE_PATH',
  edgeName: 'EDGE_NAME',
  edgeHttpPort: 'EDGE_HTTP_PORT',
  edgeHttpsPort: 'EDGE_HTTPS_PORT',
  databaseImage: 'DATABASE_IMAGE',
} as const;

export function envVarDocs(): EnvVarDoc[] {
  const docs: EnvVarDoc[] = [
    {
      name: APP_ENV.registryUrl,
      doc: 'Registry host[:port] images are pushed to and pulled from',
      example: 'registry.example.com',
    },
    {
      name: APP_ENV.registryNs,
      doc: 'Namespace (organisation/user) under the registry',
      example: 'acme',
    },
    {
      name: SECRET_ENV.registryUser,
      doc: 'Registry user; login is skipped when unset',
      secret: true,
    },
    {
      name: SECRET_ENV.registryPass,
      doc: 'Registry password or token (sent on stdin, never on a command line)',
      secret: true,
    },
    { name: APP_ENV.imageTag, doc: 'Image tag to build/deploy; default: the short git sha' },
    {
      name: APP_ENV.gitSha,
      doc: 'Git sha recorded in build info; default: git rev-parse --short HEAD',
    },
    {
      name: TOOL_ENV.engine,
      doc: 'Container engine for build-push: docker or podman; default: auto-detect',
    },
    {
      name: SECRET_ENV.sshKeyB64,
      doc: 'Base64 of the private SSH key used to deploy; default: your ssh agent/keys',
      secret: true,
    },
    {
      name: SECRET_ENV.secretsKey,
      doc: 'Key of the app secrets in config/secrets/<profile>.vault (ansible-vault); one per environment',
      secret: true,
    },
    {
      name: TOOL_ENV.secretsKeyFile,
      doc: `A file holding that key, read when ${SECRET_ENV.secretsKey} is unset`,
    },
  ];
  for (const profile of ['staging', 'production']) {
    const v = sshVars(profile);
    docs.push(
      { name: v.host, doc: `SSH host of the ${profile} server`, example: `${profile}.example.com` },
      {
        name: v.user,
        doc: `SSH user on the ${profile} server (default deploy)`,
        example: 'deploy',
      },
      { name: v.port, doc: `SSH port of the ${profile} server (default 22)`, example: '22' },
      {
        name: v.deployPath,
        doc: `Folder on the ${profile} server holding the apps (default /opt/conveyor)`,
        example: '/opt/conveyor',
      },
      {
        name: v.composeCommand,
        doc: `Compose command on the ${profile} server (default docker compose)`,
        example: 'docker compose',
      },
      {
        name: v.knownHosts,
        doc: `known_hosts line(s) for the ${profile} server; unset: accept-new with a warning`,
      },
    );
  }
  for (const profile of DEFAULT_PROFILES) {
    const v = sshVars(profile);
    docs.push(
      {
        name: v.strategy,
        doc: `Deploy strategy of ${profile}: blue-green (default, zero downtime), canary (blue-green in steps judged by the canary's metrics: profile keys canary_steps, canary_pause, canary_max_error_ratio, canary_max_p99, and canary_prometheus with canary_window to judge it with PromQL) or recreate`,
        example: 'blue-green',
      },
      {
        name: v.drainSeconds,
        doc: `Seconds the old colour keeps finishing requests after a blue-green switch on ${profile} (default 30; a rollback within it only switches back)`,
        example: '30',
      },
      {
        name: v.secretsCommand,
        doc: `Command printing the ${profile} app secrets (dotenv or JSON) from a secret store; unset: config/secrets/${profile}.vault`,
        example: '',
      },
      {
        name: v.rolloutBatches,
        doc: `Hosts of each step of a deploy to the several hosts of ${profile}'s inventory, e.g. "1, 25%, 100%" (default all at once)`,
        example: '100%',
      },
      {
        name: v.rolloutWait,
        doc: `Seconds to wait between two batches on ${profile} (default 0)`,
        example: '0',
      },
      {
        name: v.domain,
        doc: `The app's name on the web for ${profile} (e.g. ${profile}.shop.example.com): served over HTTPS by the host's edge on ports 80/443; unset: raw ports only`,
        example: '',
      },
      {
        name: v.tls,
        doc: `TLS of ${profile}'s domain: acme (default with a domain: a certificate from the ACME CA), custom (TLS_CERT and TLS_KEY from the app secrets) or off`,
        example: '',
      },
      {
        name: v.previewDomain,
        doc: `Previews of pull requests on ${profile}'s hosts are served at pr-<n>.<this name> (a wildcard DNS name); unset: no previews`,
        example: '',
      },
      {
        name: v.previewTtl,
        doc: `How long a preview on ${profile} lives after its last deploy (default 7d; e.g. 36h)`,
        example: '7d',
      },
      {
        name: v.previewPorts,
        doc: `Host ports previews on ${profile} publish on, two per preview (default 30000-30999)`,
        example: '30000-30999',
      },
      {
        name: v.database,
        doc: `An app's database on ${profile}: service (default: a Postgres on the host, its own compose project and volume, password made there) or managed (reached at the DATABASE_URL secret)`,
        example: 'service',
      },
      {
        name: v.databaseBackupsKeep,
        doc: `Verified database backups kept on ${profile}'s host (default 7)`,
        example: '7',
      },
      {
        name: v.databaseBackupCommand,
        doc: `A command run on ${profile}'s host after each verified backup to copy it off the host ($CONVEYOR_BACKUP_FILE); unset: none`,
        example: '',
      },
    );
  }
  const local = sshVars('local');
  docs.push(
    { name: TOOL_ENV.acmeEmail, doc: 'Contact e-mail given to the ACME CA for certificates' },
    {
      name: TOOL_ENV.acmeCa,
      doc: "ACME directory certificates come from (default Let's Encrypt's production one; its staging one: https://acme-staging-v02.api.letsencrypt.org/directory)",
    },
    {
      name: TOOL_ENV.acmeRenewalWindow,
      doc: "The share of a certificate's life left when the edge renews it (default 0.33: 30 days of Let's Encrypt's 90)",
    },
    {
      name: TOOL_ENV.acmeCaRoot,
      doc: "A PEM file the edge trusts the ACME directory's own HTTPS with (a private or test CA)",
    },
    { name: TOOL_ENV.edgeImage, doc: 'Image of the host edge (Caddy 2; default caddy:2)' },
    {
      name: TOOL_ENV.edgePath,
      doc: "The edge's folder on a host, the same for every app and environment there (default <deploy_path>/conveyor-edge)",
    },
    {
      name: TOOL_ENV.edgeName,
      doc: "The edge's compose project and container on a host (default conveyor-edge; hosts sharing one engine give each edge its own)",
    },
    { name: TOOL_ENV.edgeHttpPort, doc: "The edge's HTTP port on the host (default 80)" },
    { name: TOOL_ENV.edgeHttpsPort, doc: "The edge's HTTPS port on the host (default 443)" },
    {
      name: TOOL_ENV.databaseImage,
      doc: "Postgres image of an app's database service, backups and their checks (default postgres:17)",
    },
    {
      name: TOOL_ENV.proxyImage,
      doc: 'Proxy image that owns the public ports with blue-green (default haproxy:2.8-alpine)',
    },
    { name: local.registry, doc: 'Registry of the local profile (default localhost:5000)' },
    {
      name: local.deployPath,
      doc: 'Folder the local profile deploys into (default /var/tmp/conveyor/local)',
    },
    {
      name: local.composeCommand,
      doc: 'Compose command for the local profile (default docker compose)',
    },
    {
      name: TOOL_ENV.backendPort,
      doc: "Host port of the backend (default: the app generator's --backendPort)",
      example: '8080',
    },
    {
      name: TOOL_ENV.frontendPort,
      doc: "Host port of the frontend (default: the app generator's --frontendPort)",
      example: '5173',
    },
    {
      name: SECRET_ENV.telegramToken,
      doc: 'Telegram bot token; deploy notices are sent when it and the chat id are set',
      secret: true,
    },
    { name: TOOL_ENV.telegramChatId, doc: 'Telegram chat id for deploy notices' },
    {
      name: TOOL_ENV.telegramApiUrl,
      doc: 'Telegram Bot API base URL (default https://api.telegram.org)',
    },
  );
  return docs;
}

/** Project names of an app's parts. */
export function projectNames(app: string) {
  return {
    deploy: app,
    backend: `${app}-backend`,
    frontend: `${app}-frontend`,
    // The browser tests (Playwright), with a frontend.
    e2e: `${app}-e2e`,
  };
}

export function appRoots(directory: string, app: string) {
  const root = `${directory.replace(/\/+$/, '')}/${app}`;
  return {
    root,
    backend: `${root}/backend`,
    frontend: `${root}/frontend`,
    e2e: `${root}/e2e`,
    ansible: `${root}/infra/ansible`,
  };
}

/** The app's folder on a host: <deploy_path>/<app>. */
export function appPath(profile: { deploy_path: string }, app: string): string {
  return `${profile.deploy_path.replace(/\/+$/, '')}/${app}`;
}

/** A registry reference as it appears in image names: no scheme, no credentials, no trailing slash. */
export function registryHost(registry: string): string {
  return registry
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/^[^@/]*@/, '')
    .replace(/\/+$/, '');
}

export function imageRepository(
  registry: string,
  namespace: string,
  app: string,
  component: Component,
): string {
  const ns = namespace.replace(/^\/+|\/+$/g, '');
  const parts = [registryHost(registry), ns, `${app}${IMAGE_SUFFIX[component]}`].filter(
    (p) => p !== '',
  );
  return parts.join('/');
}

export function imageRef(
  registry: string,
  namespace: string,
  app: string,
  component: Component,
  tag: string,
): string {
  return `${imageRepository(registry, namespace, app, component)}:${tag}`;
}

/** Repository path inside the registry (what /v2/<path>/... uses). */
export function registryPath(namespace: string, app: string, component: Component): string {
  const ns = namespace.replace(/^\/+|\/+$/g, '');
  return [ns, `${app}${IMAGE_SUFFIX[component]}`].filter((p) => p !== '').join('/');
}

const APP_NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;

/** An app name must be a valid npm package name segment and docker repository component. */
export function validateAppName(name: string): string | undefined {
  if (!name) return 'An app name is required.';
  if (name.length > 50) return `App name "${name}" is too long (at most 50 characters).`;
  if (!APP_NAME.test(name)) {
    return (
      `App name "${name}" is not valid: use lowercase letters, digits and single dashes, ` +
      'starting with a letter (it becomes an npm project name and a container image name).'
    );
  }
  return undefined;
}
