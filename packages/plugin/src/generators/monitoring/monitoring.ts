import { formatFiles, generateFiles, logger, readNxJson, Tree, updateNxJson } from '@nx/devkit';
import { join } from 'node:path';
import {
  alertmanagerConfig,
  alertRules,
  ALERTS,
  colorTargetFile,
  grafanaDashboard,
  MONITORING_FILES,
  MONITORING_GENERATOR,
  prometheusConfig,
  targetFile,
  targetFileName,
} from '../../core/monitoring/monitoring';
import {
  buildInfoMetric,
  DEPLOY_TIMESTAMP,
  HTTP_REQUEST_DURATION,
} from '../../core/monitoring/metrics';
import { COLOR_TARGETS_DIR, colorJob, colorTargetFileName } from '../../core/monitoring/colors';
import { SECRET_ENV, TOOL_ENV } from '../../core/config/names';
import type { Env } from '../../core/config/profile';
import { addStack } from './lib/stack';
import { normalizeOptions, MonitoringOptionsError } from './lib/normalize-options';
import { collectTargets, collectTlsTargets, findApps } from './lib/targets';
import type { MonitoringGeneratorSchema } from './schema';

export { MonitoringOptionsError };

/** Options given earlier, kept in nx.json's generator defaults (the Nx CLI applies them too). */
function rememberedOptions(tree: Tree): MonitoringGeneratorSchema {
  const value = readNxJson(tree)?.generators?.[MONITORING_GENERATOR];
  return value && typeof value === 'object' && !Array.isArray(value)
    ? (value as MonitoringGeneratorSchema)
    : {};
}

/** Target lists are derived: writes `files` into `folder` and drops the lists that are gone there. */
function writeTargetFiles(tree: Tree, folder: string, files: Map<string, string>): void {
  for (const child of tree.exists(folder) ? tree.children(folder) : []) {
    const path = `${folder}/${child}`;
    if (child.endsWith('.yml') && !files.has(path)) tree.delete(path);
  }
  for (const [path, text] of files) tree.write(path, text);
}

function rememberOptions(tree: Tree, options: MonitoringGeneratorSchema): void {
  const nxJson = readNxJson(tree);
  if (!nxJson) return;
  const kept = Object.fromEntries(
    Object.entries(options).filter(([key, value]) => key !== 'skipFormat' && value !== undefined),
  );
  nxJson.generators ??= {};
  if (Object.keys(kept).length > 0) nxJson.generators[MONITORING_GENERATOR] = kept;
  else delete nxJson.generators[MONITORING_GENERATOR];
  updateNxJson(tree, nxJson);
}

/**
 * Writes, for every Conveyor app and environment: the Prometheus scrape config with file_sd target
 * lists, alert rules, an Alertmanager config (Telegram) and a Grafana dashboard; with `deploy`, the
 * Prometheus + Alertmanager stack and a project that deploys it. `env` resolves the profiles'
 * `${VAR}` references in ssh_host (default: this process's environment). The options are kept in
 * nx.json (generators) and apply when it runs again.
 */
export async function monitoringGenerator(
  tree: Tree,
  schema: MonitoringGeneratorSchema = {},
  env: Env = process.env,
): Promise<void> {
  // Run again (from app --monitoring, or by hand), it keeps the options given before.
  const options = { ...rememberedOptions(tree), ...schema };
  const o = normalizeOptions(tree, options);
  const apps = findApps(tree);
  if (apps.length === 0) {
    throw new MonitoringOptionsError(
      'No Conveyor app to monitor: no project is tagged conveyor:app with a deploy target. ' +
        'Create one first: nx g @conveyor/plugin:app <name>',
    );
  }
  const { environments, targets } = collectTargets(tree, apps, o.environments, env);
  const tls = collectTlsTargets(tree, apps, environments, env);
  rememberOptions(tree, options);
  const names = apps.map((a) => a.app);
  const dir = (file: string) => `${o.directory}/${file}`;

  tree.write(
    dir(MONITORING_FILES.prometheusConfig),
    prometheusConfig({
      apps: names,
      scrapeInterval: o.scrapeInterval,
      evaluationInterval: o.evaluationInterval,
      alertmanager: o.alertmanager,
      tls,
    }),
  );
  tree.write(dir(MONITORING_FILES.rules), alertRules(names, o.thresholds, tls.length > 0));

  // Those of apps or environments that are gone are dropped (the colours' folder is not a .yml).
  writeTargetFiles(
    tree,
    dir(MONITORING_FILES.targetsDir),
    new Map(targets.map((t) => [dir(targetFileName(t.app, t.env)), targetFile(t)])),
  );
  writeTargetFiles(
    tree,
    dir(COLOR_TARGETS_DIR),
    new Map(targets.map((t) => [dir(colorTargetFileName(t.app, t.env)), colorTargetFile(t)])),
  );

  // The Alertmanager config is the user's once written (routes, receivers).
  if (!tree.exists(dir(MONITORING_FILES.alertmanagerConfig))) {
    tree.write(dir(MONITORING_FILES.alertmanagerConfig), alertmanagerConfig());
  }
  tree.write(
    dir(MONITORING_FILES.dashboard),
    JSON.stringify(
      grafanaDashboard({
        apps: names,
        errorRatio: o.thresholds.errorRatio,
        latencyP99: o.thresholds.latencyP99,
      }),
      null,
      2,
    ) + '\n',
  );

  generateFiles(tree, join(__dirname, 'files', 'docs'), o.directory, {
    tmpl: '',
    directory: o.directory,
    apps: names,
    environments,
    targets,
    files: MONITORING_FILES,
    colorTargetsDir: COLOR_TARGETS_DIR,
    colorJob,
    alerts: ALERTS,
    thresholds: o.thresholds,
    scrapeInterval: o.scrapeInterval,
    buildInfoMetric,
    httpRequestDuration: HTTP_REQUEST_DURATION,
    deployTimestamp: DEPLOY_TIMESTAMP,
    secrets: SECRET_ENV,
    tool: TOOL_ENV,
    deploy: o.deploy,
    project: o.project,
    profile: o.profile,
    prometheusPort: o.prometheusPort,
    alertmanagerPort: o.alertmanagerPort,
  });

  if (o.deploy) addStack(tree, o, tls.length > 0);

  for (const t of targets) {
    for (const u of t.unresolved) {
      logger.warn(
        `${t.app} on ${t.env}: host ${u.host} is not in ${dir(targetFileName(t.app, t.env))} ` +
          `because ${u.variable} is not set; set it and run the generator again.`,
      );
    }
  }
  if (!o.skipFormat) await formatFiles(tree);
}

export default monitoringGenerator;
