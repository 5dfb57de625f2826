import { APP_ENV, envVarDocs, sshVars, TOOL_ENV } from '../../../core/config/names';
import { LETS_ENCRYPT } from '../../../core/config/profile';

/** Keys every profile gets for how releases switch (blue-green unless the environment says otherwise). */
function strategyKeys(name: string): string {
  const v = sshVars(name);
  return (
    `strategy: \${${v.strategy}:-blue-green}\n` +
    `drain_seconds: \${${v.drainSeconds}:-30}\n` +
    `proxy_image: \${${TOOL_ENV.proxyImage}:-haproxy:2.8-alpine}\n` +
    '# Several hosts in inventory/<profile>: the batches a deploy goes through, and the pause between them.\n' +
    `rollout_batches: \${${v.rolloutBatches}:-100%}\n` +
    `rollout_wait: \${${v.rolloutWait}:-0}\n` +
    '# The app secrets: unset, config/secrets/<profile>.vault; set, a command printing them.\n' +
    `secrets_command: \${${v.secretsCommand}:-}\n`
  );
}

/** Keys every profile gets for its name on the web (the host's edge); unset domain: raw ports only. */
function edgeKeys(name: string): string {
  const v = sshVars(name);
  return (
    "# The app at its own name over HTTPS: the host's edge (Caddy) owns ports 80/443, gets and renews the certificate.\n" +
    `domain: \${${v.domain}:-}\n` +
    `tls: \${${v.tls}:-}\n` +
    `acme_email: \${${TOOL_ENV.acmeEmail}:-}\n` +
    `acme_ca: \${${TOOL_ENV.acmeCa}:-${LETS_ENCRYPT}}\n` +
    `acme_ca_root: \${${TOOL_ENV.acmeCaRoot}:-}\n` +
    `acme_renewal_window: \${${TOOL_ENV.acmeRenewalWindow}:-0.33}\n` +
    '# One edge per host: give every app and environment there the same edge_path.\n' +
    `edge_path: \${${TOOL_ENV.edgePath}:-}\n` +
    `edge_name: \${${TOOL_ENV.edgeName}:-conveyor-edge}\n` +
    `edge_image: \${${TOOL_ENV.edgeImage}:-caddy:2}\n` +
    `edge_http_port: \${${TOOL_ENV.edgeHttpPort}:-80}\n` +
    `edge_https_port: \${${TOOL_ENV.edgeHttpsPort}:-443}\n` +
    '# Previews of pull requests (nx run <app>:preview --pr=<n>) at pr-<n>.<preview_domain>, removed after preview_ttl.\n' +
    `preview_domain: \${${v.previewDomain}:-}\n` +
    `preview_ttl: \${${v.previewTtl}:-7d}\n` +
    `preview_ports: \${${v.previewPorts}:-30000-30999}\n`
  );
}

/** Keys every profile gets for an app's database (apps without one ignore them). */
function databaseKeys(name: string): string {
  const v = sshVars(name);
  return (
    '# An app with a database: service (a Postgres on the host, never restarted by releases) or managed (the DATABASE_URL secret).\n' +
    `database: \${${v.database}:-service}\n` +
    `database_image: \${${TOOL_ENV.databaseImage}:-postgres:17}\n` +
    '# Verified backups (before each migration, and db-backup) kept on the host, and a command copying each off it.\n' +
    `database_backups_keep: \${${v.databaseBackupsKeep}:-7}\n` +
    `database_backup_command: \${${v.databaseBackupCommand}:-}\n`
  );
}

const HEADER = (name: string, how: string) =>
  `# Profile "${name}": ${how}\n` +
  '# Values are ${VAR} / ${VAR:-default} references to the environment; see env.example.\n';

/** The text of config/profiles/<name>.yml as init writes it. */
export function profileYaml(name: string): string {
  const v = sshVars(name);
  if (name === 'local') {
    return (
      HEADER(name, "deploys to this machine with Ansible's local connection (no SSH).") +
      `registry: \${${v.registry}:-localhost:5000}\n` +
      `registry_namespace: \${${APP_ENV.registryNs}:-conveyor}\n` +
      'connection: local\n' +
      'ssh_host: localhost\n' +
      `deploy_path: \${${v.deployPath}:-/var/tmp/conveyor/local}\n` +
      `compose_command: \${${v.composeCommand}:-docker compose}\n` +
      strategyKeys(name) +
      edgeKeys(name) +
      databaseKeys(name)
    );
  }
  return (
    HEADER(name, `deploys over SSH with Ansible (nx run <app>:deploy --configuration=${name}).`) +
    `registry: \${${APP_ENV.registryUrl}}\n` +
    `registry_namespace: \${${APP_ENV.registryNs}}\n` +
    'connection: ssh\n' +
    `ssh_host: \${${v.host}}\n` +
    `ssh_user: \${${v.user}:-deploy}\n` +
    `ssh_port: \${${v.port}:-22}\n` +
    `deploy_path: \${${v.deployPath}:-/opt/conveyor}\n` +
    `compose_command: \${${v.composeCommand}:-docker compose}\n` +
    strategyKeys(name) +
    edgeKeys(name) +
    databaseKeys(name)
  );
}

/** env.example: every variable the plugin reads, one comment line each. */
export function envExample(): string {
  const lines = [
    '# Variables Conveyor reads. Set them in CI, or copy this file to .env for local runs (Nx loads .env into every task).',
    '# .env and .env.* are git-ignored (init adds them to .gitignore; *.example files stay tracked): never commit real secrets.',
    '# Lines marked [secret] are never printed or passed on a command line.',
    '',
  ];
  for (const v of envVarDocs()) {
    lines.push(`# ${v.doc}${v.secret ? ' [secret]' : ''}`, `${v.name}=${v.example ?? ''}`, '');
  }
  return lines.join('\n');
}
