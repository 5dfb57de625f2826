import {
  addProjectConfiguration,
  generateFiles,
  getProjects,
  ProjectConfiguration,
  Tree,
  updateProjectConfiguration,
} from '@nx/devkit';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { ImageSpec } from '../../../core/image/images';
import { MONITORING_FILES, TELEGRAM_API_DEFAULT } from '../../../core/monitoring/monitoring';
import {
  APP_ENV,
  DEFAULT_PROFILES,
  PLUGIN_NAME,
  SECRET_ENV,
  TOOL_ENV,
} from '../../../core/config/names';
import type { NormalizedMonitoringOptions } from './normalize-options';
import { profileFile } from './targets';

/** Upstream images the stack runs; override with --buildArgs.PROMETHEUS_IMAGE / ALERTMANAGER_IMAGE. */
export const STACK_IMAGES = {
  prometheus: 'prom/prometheus:v2.53.4',
  alertmanager: 'prom/alertmanager:v0.27.0',
  blackbox: 'prom/blackbox-exporter:v0.25.0',
} as const;

/** Environment variables the stack's deploy reads besides the usual ones. */
export const STACK_ENV = {
  alertmanagerImage: 'ALERTMANAGER_IMAGE',
  alertmanagerPort: 'ALERTMANAGER_PORT',
  blackboxImage: 'BLACKBOX_IMAGE',
  retention: 'PROMETHEUS_RETENTION',
} as const;

export function stackProfiles(o: NormalizedMonitoringOptions): string[] {
  return [...new Set<string>([...DEFAULT_PROFILES, o.profile])];
}

/** Where the stack's deploy files are (inside the monitoring folder). */
export function stackFiles(directory: string) {
  return {
    ansibleDir: `${directory}/infra/ansible`,
    composeFile: `${directory}/docker-compose.yml`,
    /** Written by generators before the host helper existed; removed when the generator runs. */
    obsolete: [`${directory}/infra/ansible/tasks/rollout.yml`],
  };
}

/**
 * How the deploy executor puts the stack live, with the same host helper (lock, state, history)
 * as the apps: always `recreate` (one Prometheus and one Alertmanager port, Prometheus data in a
 * volume: two colours would clash on the ports and split the data), ready when Prometheus and
 * Alertmanager answer /-/ready (Prometheus has no /metrics version card to check).
 */
export function stackDeployOptions(o: NormalizedMonitoringOptions) {
  const files = stackFiles(o.directory);
  return {
    profile: o.profile,
    ansibleDir: files.ansibleDir,
    composeFile: files.composeFile,
    backendPort: o.prometheusPort,
    strategy: 'recreate',
    healthPath: '/-/ready',
    versionCheck: false,
    readyChecks: [{ env: STACK_ENV.alertmanagerPort, port: o.alertmanagerPort, path: '/-/ready' }],
    composeEnv: [
      STACK_ENV.alertmanagerPort,
      STACK_ENV.alertmanagerImage,
      STACK_ENV.blackboxImage,
      STACK_ENV.retention,
    ],
  };
}

/**
 * The stack's project: build-push bakes the Prometheus config, rules and targets into an image
 * (`<project>_backend`, so a deploy is a versioned release that rollback can undo); deploy and
 * rollback run the deploy executor with the stack's own playbook; status and history read the
 * host's state as for an app.
 */
export function stackProject(o: NormalizedMonitoringOptions): ProjectConfiguration {
  const configurations = Object.fromEntries(stackProfiles(o).map((p) => [p, { profile: p }]));
  const images: ImageSpec[] = [
    {
      component: 'backend',
      dockerfile: `${o.directory}/Dockerfile`,
      context: [{ from: `${o.directory}/prometheus`, to: 'prometheus' }],
    },
  ];
  const deployOptions = stackDeployOptions(o);
  return {
    root: o.directory,
    projectType: 'application',
    tags: ['conveyor', 'conveyor:monitoring'],
    targets: {
      'build-push': {
        executor: `${PLUGIN_NAME}:build-push`,
        options: { profile: o.profile, images },
        configurations,
      },
      deploy: { executor: `${PLUGIN_NAME}:deploy`, options: deployOptions, configurations },
      rollback: {
        executor: `${PLUGIN_NAME}:rollback`,
        options: { profile: o.profile },
        configurations,
      },
      status: {
        executor: `${PLUGIN_NAME}:status`,
        options: { profile: o.profile },
        configurations,
      },
      history: {
        executor: `${PLUGIN_NAME}:history`,
        options: { profile: o.profile },
        configurations,
      },
    },
  };
}

function isLocalProfile(tree: Tree, profile: string): boolean {
  try {
    const doc = parse(tree.read(profileFile(profile), 'utf-8') ?? '') as Record<string, unknown>;
    return doc?.['connection'] === 'local';
  } catch {
    return false;
  }
}

/** The monitoring host of one environment, as the app inventories describe theirs. */
export function stackInventory(project: string, profile: string, local: boolean): string {
  if (local) {
    return (
      `# The ${profile} profile runs the monitoring stack on this machine, without SSH.\n` +
      '[monitoring]\n' +
      `${project}-1 ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"\n`
    );
  }
  return (
    `# The monitoring host of the ${profile} profile. The deploy executor fills the connection from\n` +
    `# ${profileFile(profile)} (ssh_host, ssh_user, ssh_port) and passes it as extra vars.\n` +
    '[monitoring]\n' +
    `${project}-1 ansible_host="{{ conveyor_ssh_host }}" ansible_user="{{ conveyor_ssh_user }}" ansible_port="{{ conveyor_ssh_port }}"\n`
  );
}

/** The stack; with `certificates`, a blackbox exporter that probes the apps' domains too. */
export function addStack(tree: Tree, o: NormalizedMonitoringOptions, certificates = false): void {
  generateFiles(tree, join(__dirname, '..', 'files', 'stack'), o.directory, {
    tmpl: '',
    certificates,
    project: o.project,
    directory: o.directory,
    profiles: stackProfiles(o),
    prometheusPort: o.prometheusPort,
    alertmanagerPort: o.alertmanagerPort,
    images: STACK_IMAGES,
    stackEnv: STACK_ENV,
    env: APP_ENV,
    secrets: SECRET_ENV,
    tool: TOOL_ENV,
    telegramApiDefault: TELEGRAM_API_DEFAULT,
    alertmanagerConfig: MONITORING_FILES.alertmanagerConfig,
  });
  for (const file of stackFiles(o.directory).obsolete) if (tree.exists(file)) tree.delete(file);
  for (const profile of stackProfiles(o)) {
    const file = `${o.directory}/infra/ansible/inventory/${profile}`;
    if (!tree.exists(file)) {
      tree.write(file, stackInventory(o.project, profile, isLocalProfile(tree, profile)));
    }
  }
  const project = stackProject(o);
  if (getProjects(tree).has(o.project)) updateProjectConfiguration(tree, o.project, project);
  else addProjectConfiguration(tree, o.project, project);
}
