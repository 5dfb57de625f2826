import { getProjects, Tree } from '@nx/devkit';
import {
  DEFAULT_THRESHOLDS,
  isDuration,
  type AlertThresholds,
} from '../../../core/monitoring/monitoring';
import { validateAppName } from '../../../core/config/names';
import { PortError, validatePort } from '../../../core/config/ports';
import type { MonitoringGeneratorSchema } from '../schema';

export class MonitoringOptionsError extends Error {
  override name = 'MonitoringOptionsError';
}

export interface NormalizedMonitoringOptions {
  directory: string;
  /** Undefined: every profile the apps' deploy targets use. */
  environments?: string[];
  scrapeInterval: string;
  evaluationInterval: string;
  alertmanager: string;
  thresholds: AlertThresholds;
  deploy: boolean;
  project: string;
  profile: string;
  prometheusPort: number;
  alertmanagerPort: number;
  skipFormat: boolean;
}

function duration(value: unknown, option: string, fallback: string): string {
  const v = value === undefined ? fallback : String(value).trim();
  if (!isDuration(v)) {
    throw new MonitoringOptionsError(
      `--${option} must be a Prometheus duration such as 15s, 1m or 1h30m, got "${String(value)}".`,
    );
  }
  return v;
}

function positive(value: unknown, option: string, fallback: number, max?: number): number {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isFinite(n) || n <= 0 || (max !== undefined && n > max)) {
    throw new MonitoringOptionsError(
      `--${option} must be a number above 0${max !== undefined ? ` and at most ${max}` : ''}, got "${String(value)}".`,
    );
  }
  return n;
}

/** The plugin's one port check (core/ports), its message as this generator's error. */
function port(value: unknown, option: string, fallback: number): number {
  try {
    return validatePort(value ?? fallback, `--${option}`);
  } catch (error) {
    throw error instanceof PortError ? new MonitoringOptionsError(error.message) : error;
  }
}

const PROFILE_NAME = /^[a-z0-9][a-z0-9_-]*$/i;

function list(value: string[] | string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = (Array.isArray(value) ? value : [value])
    .flatMap((v) => String(v).split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  return items.length > 0 ? [...new Set(items)] : undefined;
}

/** Validates everything before a single file is written. */
export function normalizeOptions(
  tree: Tree,
  options: MonitoringGeneratorSchema,
): NormalizedMonitoringOptions {
  const directory = (options.directory ?? 'monitoring')
    .replace(/\\/g, '/')
    .replace(/^\.\/|\/+$/g, '');
  if (
    directory === '' ||
    directory.startsWith('/') ||
    directory.split('/').some((p) => p === '..' || p === '.' || p === '')
  ) {
    throw new MonitoringOptionsError(
      `--directory must be a relative folder inside the workspace, got "${options.directory}".`,
    );
  }

  const environments = list(options.environments);
  for (const env of environments ?? []) {
    if (!PROFILE_NAME.test(env)) {
      throw new MonitoringOptionsError(
        `--environments: "${env}" is not a profile name (letters, digits, "-" and "_").`,
      );
    }
  }

  const alertmanager = (options.alertmanager ?? 'alertmanager:9093').trim();
  if (alertmanager !== '' && !/^[A-Za-z0-9.[\]:_-]+:\d{1,5}$/.test(alertmanager)) {
    throw new MonitoringOptionsError(
      `--alertmanager must be host:port (or empty for no alerting), got "${alertmanager}".`,
    );
  }

  const d = DEFAULT_THRESHOLDS;
  const thresholds: AlertThresholds = {
    targetDownFor: duration(options.targetDownFor, 'targetDownFor', d.targetDownFor),
    errorRatio: positive(options.errorRatio, 'errorRatio', d.errorRatio, 1),
    errorRatioFor: duration(options.errorRatioFor, 'errorRatioFor', d.errorRatioFor),
    latencyP99: positive(options.latencyP99, 'latencyP99', d.latencyP99),
    latencyFor: duration(options.latencyFor, 'latencyFor', d.latencyFor),
    versionMismatchFor: duration(
      options.versionMismatchFor,
      'versionMismatchFor',
      d.versionMismatchFor,
    ),
    rateWindow: duration(options.rateWindow, 'rateWindow', d.rateWindow),
  };

  const deploy = options.deploy ?? false;
  const project = String(options.project ?? 'monitoring').trim();
  const profile = String(options.profile ?? 'production').trim();
  if (deploy) {
    const nameError = validateAppName(project);
    if (nameError) throw new MonitoringOptionsError(`--project: ${nameError}`);
    const existing = getProjects(tree).get(project);
    if (existing && existing.root !== directory) {
      throw new MonitoringOptionsError(
        `A project named "${project}" already exists at ${existing.root}; choose another --project.`,
      );
    }
    if (!PROFILE_NAME.test(profile)) {
      throw new MonitoringOptionsError(`--profile "${profile}" is not a profile name.`);
    }
  }
  const prometheusPort = port(options.prometheusPort, 'prometheusPort', 9090);
  const alertmanagerPort = port(options.alertmanagerPort, 'alertmanagerPort', 9093);
  if (deploy && prometheusPort === alertmanagerPort) {
    throw new MonitoringOptionsError(
      `--prometheusPort and --alertmanagerPort must differ (both are ${prometheusPort}).`,
    );
  }

  return {
    directory,
    environments,
    scrapeInterval: duration(options.scrapeInterval, 'scrapeInterval', '15s'),
    evaluationInterval: duration(options.evaluationInterval, 'evaluationInterval', '15s'),
    alertmanager,
    thresholds,
    deploy,
    project,
    profile,
    prometheusPort,
    alertmanagerPort,
    skipFormat: options.skipFormat ?? false,
  };
}
