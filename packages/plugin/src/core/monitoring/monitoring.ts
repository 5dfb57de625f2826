/**
 * What the monitoring generator writes: Prometheus scrape config and file_sd target lists, alert
 * rules, the Alertmanager config (Telegram) and a Grafana dashboard. Pure: text and objects in,
 * text and objects out; the generator reads the workspace and writes the files.
 */
import { posix } from 'node:path';
import { stringify } from 'yaml';
import {
  buildInfoMetric,
  DEPLOY_TIMESTAMP,
  FORMAT_PARAM,
  HTTP_REQUEST_DURATION,
  METRICS_PATH,
  PROMETHEUS_FORMAT,
} from './metrics';
import { PLUGIN_NAME, SECRET_ENV, TOOL_ENV } from '../config/names';
import { interpolate, type Env } from '../config/profile';
import { hostPorts } from '../release/fleet';
import { COLORS, internalPort } from '../release/strategy';
import { COLOR_TARGET_LABELS, colorJob, colorTargetFileName } from './colors';
import { certificateRule, TlsTarget, tlsScrapeJob } from './certificates';

export const MONITORING_GENERATOR = `${PLUGIN_NAME}:monitoring`;
const REGENERATE = `nx g ${MONITORING_GENERATOR}`;
const YAML_OPTIONS = { lineWidth: 0 } as const;

/** Alert names; every alert carries the labels app and env. */
export const ALERTS = {
  targetDown: 'ConveyorTargetDown',
  errorRatio: 'ConveyorHighErrorRatio',
  latencyP99: 'ConveyorHighLatencyP99',
  versionMismatch: 'ConveyorVersionMismatch',
} as const;

/** Default Telegram Bot API, as the deploy notices use it. */
export const TELEGRAM_API_DEFAULT = 'https://api.telegram.org';

/** Paths inside the monitoring folder. */
export const MONITORING_FILES = {
  prometheusConfig: 'prometheus/prometheus.yml',
  rules: 'prometheus/rules/conveyor.rules.yml',
  targetsDir: 'prometheus/targets',
  alertmanagerConfig: 'alertmanager/alertmanager.yml',
  dashboard: 'grafana/conveyor-dashboard.json',
} as const;

/** A Prometheus duration such as `15s`, `1m` or `1h30m`. */
const DURATION = /^(?:\d+(?:ms|s|m|h|d|w|y))+$/;
export function isDuration(value: string): boolean {
  return DURATION.test(value);
}

// ---------------------------------------------------------------------------------------------
// Targets

export interface InventoryHost {
  name: string;
  vars: Record<string, string>;
}

/** Hosts of the `[app]` group of an Ansible INI inventory (the group the app's playbook runs on). */
export function parseInventory(text: string, group = 'app'): InventoryHost[] {
  const hosts: InventoryHost[] = [];
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = header[1].trim();
      continue;
    }
    if (section !== group) continue;
    const [name, ...rest] = line.match(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g) ?? [];
    if (!name) continue;
    const vars: Record<string, string> = {};
    for (const token of rest) {
      const eq = token.indexOf('=');
      if (eq <= 0) continue;
      vars[token.slice(0, eq)] = token.slice(eq + 1).replace(/^(["'])(.*)\1$/, '$2');
    }
    hosts.push({ name, vars });
  }
  return hosts;
}

/** A profile value with its `${VAR}` references resolved, or the variable that is not set. */
export type Resolved = { value: string } | { variable: string };

export function resolveValue(raw: string, env: Env): Resolved {
  const result = interpolate(raw, env);
  if ('value' in result) return { value: result.value };
  if ('variable' in result) return { variable: result.variable };
  return { variable: result.invalid };
}

/**
 * The address Prometheus scrapes for one inventory host: its `ansible_host` when literal, the
 * profile's `ssh_host` when the inventory takes it from the deploy (`{{ conveyor_ssh_host }}`) or
 * the host is the control machine (`ansible_connection=local`), else the inventory name itself.
 */
export function hostAddress(host: InventoryHost, profileHost: Resolved): Resolved {
  const ansibleHost = host.vars['ansible_host'];
  if (ansibleHost !== undefined) {
    if (/\{\{\s*conveyor_ssh_host\s*\}\}/.test(ansibleHost)) return profileHost;
    if (ansibleHost.includes('{{')) return { variable: `${host.name}'s ansible_host` };
    return { value: ansibleHost };
  }
  if (host.vars['ansible_connection'] === 'local') {
    return 'value' in profileHost && profileHost.value !== ''
      ? profileHost
      : { value: 'localhost' };
  }
  return { value: host.name };
}

export interface EnvironmentTargets {
  app: string;
  env: string;
  port: number;
  /** host:port per host of the environment. */
  targets: string[];
  /** The hosts that resolved: inventory name, address and the backend port it publishes. */
  hosts: { host: string; address: string; backendPort: number }[];
  /** Hosts whose address needs a variable that was not set at generation time. */
  unresolved: { host: string; variable: string }[];
  /** Where the hosts came from, for the file's header. */
  source: string;
}

/** Targets of one app in one environment, from its inventory (or the profile's ssh_host alone). */
export function environmentTargets(input: {
  app: string;
  env: string;
  port: number;
  profileHost: Resolved;
  inventory?: { file: string; text: string };
  profileFile: string;
}): EnvironmentTargets {
  const hosts = input.inventory
    ? parseInventory(input.inventory.text)
    : [{ name: `${input.env}-1`, vars: { ansible_host: '{{ conveyor_ssh_host }}' } }];
  const resolved: EnvironmentTargets['hosts'] = [];
  const unresolved: EnvironmentTargets['unresolved'] = [];
  for (const host of hosts) {
    const address = hostAddress(host, input.profileHost);
    if ('value' in address && address.value !== '') {
      // A host that publishes the backend on a port of its own is scraped there (the deploy's rule).
      const { backendPort } = hostPorts(
        host.vars,
        host.name,
        { backendPort: input.port },
        input.inventory?.file,
      );
      resolved.push({ host: host.name, address: address.value, backendPort });
    } else {
      unresolved.push({
        host: host.name,
        variable: 'variable' in address ? address.variable : 'ssh_host',
      });
    }
  }
  const source = input.inventory
    ? `${input.inventory.file} (hosts) and ${input.profileFile} (ssh_host)`
    : `${input.profileFile} (ssh_host)`;
  const targets = [...new Set(resolved.map((h) => `${h.address}:${h.backendPort}`))];
  return { ...input, targets, hosts: resolved, unresolved, source };
}

export function targetFileName(app: string, env: string): string {
  return `${MONITORING_FILES.targetsDir}/${app}.${env}.yml`;
}

/** The header lines that say which hosts are left out, and why. */
function unresolvedLines(t: EnvironmentTargets): string[] {
  return t.unresolved.flatMap((u) => [
    `# Host ${u.host} is left out: ${u.variable} was not set when this file was generated.`,
    `# Set it and run ${REGENERATE} again, or add its host:port below.`,
  ]);
}

function fileSd(header: string[], groups: unknown[]): string {
  if (groups.length === 0) return `${header.join('\n')}\n[]\n`;
  return `${header.join('\n')}\n${stringify(groups, YAML_OPTIONS)}`;
}

/** A file_sd target list: Prometheus re-reads it when it changes, without a restart. */
export function targetFile(t: EnvironmentTargets): string {
  const header = [
    `# ${t.app} on ${t.env}: the backends Prometheus scrapes (file_sd; re-read on change, no restart).`,
    `# Written by ${REGENERATE} from ${t.source}, port ${t.port} (backendPort of ${t.app}:deploy).`,
    ...unresolvedLines(t),
  ];
  const groups =
    t.targets.length === 0 ? [] : [{ targets: t.targets, labels: { app: t.app, env: t.env } }];
  return fileSd(header, groups);
}

type ColorLabel = (typeof COLOR_TARGET_LABELS)[number];

/** The colour target list of one app and env: each host's blue and green port (core/monitoring/colors.ts). */
export function colorTargetFile(t: EnvironmentTargets): string {
  const header = [
    `# ${t.app} on ${t.env}: each host's colours, job ${colorJob(t.app)} (file_sd; re-read on change, no restart).`,
    `# Written by ${REGENERATE} from ${t.source}.`,
    `# Colour ports derive from port ${t.port} (backendPort of ${t.app}:deploy) or a host's conveyor_backend_port;`,
    '# they are loopback ports of the host (127.0.0.1): only a Prometheus running on that host',
    '# (host network) can reach them. A colour that is not running is simply down here; this job',
    `# carries no alert rules (they select job ${t.app}), a canary analysis reads it.`,
    ...unresolvedLines(t),
  ];
  const groups = t.hosts.flatMap((h) =>
    COLORS.map((color) => ({
      targets: [`${h.address}:${internalPort(h.backendPort, color)}`],
      // Exactly the labels colors.ts names (the canary's selector reads them).
      labels: { app: t.app, env: t.env, host: h.host, color } satisfies Record<ColorLabel, string>,
    })),
  );
  return fileSd(header, groups);
}

// ---------------------------------------------------------------------------------------------
// Prometheus

export interface PrometheusConfigInput {
  apps: string[];
  scrapeInterval: string;
  evaluationInterval: string;
  /** host:port of Alertmanager; empty: no alerting section. */
  alertmanager: string;
  /** The apps' domains whose certificates the blackbox exporter probes (none: no such job). */
  tls?: TlsTarget[];
}

/** A path of the monitoring folder as prometheus.yml names it (relative to its own folder). */
function fromConfig(path: string): string {
  return posix.relative(posix.dirname(MONITORING_FILES.prometheusConfig), path);
}

export function prometheusConfig(input: PrometheusConfigInput): string {
  const doc: Record<string, unknown> = {
    global: {
      scrape_interval: input.scrapeInterval,
      evaluation_interval: input.evaluationInterval,
    },
    rule_files: ['rules/*.yml'],
  };
  if (input.alertmanager) {
    doc['alerting'] = {
      alertmanagers: [{ static_configs: [{ targets: [input.alertmanager] }] }],
    };
  }
  // The public port's targets and the colours' are in different folders: neither glob matches the other's.
  const job = (name: string, targetFiles: string) => ({
    job_name: name,
    metrics_path: METRICS_PATH,
    // Prometheus's Accept header already asks for the text format; the parameter makes it explicit
    // (and survives proxies that drop Accept).
    params: { [FORMAT_PARAM]: [PROMETHEUS_FORMAT] },
    file_sd_configs: [{ files: [fromConfig(targetFiles)], refresh_interval: '1m' }],
  });
  doc['scrape_configs'] = [
    ...input.apps.flatMap((app) => [
      job(app, targetFileName(app, '*')),
      job(colorJob(app), colorTargetFileName(app, '*')),
    ]),
    ...(input.tls?.length ? [tlsScrapeJob(input.tls)] : []),
  ];
  return (
    [
      `# Prometheus: scrapes every Conveyor app's backend (${METRICS_PATH}, Prometheus text format).`,
      `# Written by ${REGENERATE}; run it again after adding an app or an environment.`,
      `# Paths are relative to this file: rules/*.yml, ${fromConfig(targetFileName('<app>', '<env>'))} and`,
      `# ${fromConfig(colorTargetFileName('<app>', '<env>'))} (file_sd).`,
      '# Each target carries the labels app and env (the profile); job is the app.',
      `# Job ${colorJob('<app>')} scrapes each host's blue and green ports (labels ${COLOR_TARGET_LABELS.join(', ')})`,
      '# for canary analysis; no alert rule reads it.',
    ].join('\n') +
    '\n' +
    stringify(doc, YAML_OPTIONS)
  );
}

export interface AlertThresholds {
  /** How long a target must be down before the alert fires. */
  targetDownFor: string;
  /** Share of 5xx responses (0..1). */
  errorRatio: number;
  errorRatioFor: string;
  /** p99 request duration, in seconds. */
  latencyP99: number;
  latencyFor: string;
  /** Different git shas on the hosts of one environment for this long (a deploy takes less). */
  versionMismatchFor: string;
  /** Window of rate(); at least 4 scrape intervals. */
  rateWindow: string;
}

export const DEFAULT_THRESHOLDS: AlertThresholds = {
  targetDownFor: '1m',
  errorRatio: 0.05,
  errorRatioFor: '5m',
  latencyP99: 1,
  latencyFor: '5m',
  versionMismatchFor: '15m',
  rateWindow: '5m',
};

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export function appAlertRules(app: string, t: AlertThresholds): AlertRule[] {
  const job = `job="${app}"`;
  const count = `${HTTP_REQUEST_DURATION}_count`;
  const bucket = `${HTTP_REQUEST_DURATION}_bucket`;
  const w = t.rateWindow;
  return [
    {
      alert: ALERTS.targetDown,
      expr: `up{${job}} == 0`,
      for: t.targetDownFor,
      labels: { severity: 'critical', app },
      annotations: {
        summary: `${app} is down on {{ $labels.env }}`,
        description: `Prometheus could not scrape ${app} at {{ $labels.instance }} (${t.targetDownFor}).`,
      },
    },
    {
      alert: ALERTS.errorRatio,
      expr:
        `sum by (app, env) (rate(${count}{${job},status=~"5.."}[${w}]))` +
        ` / sum by (app, env) (rate(${count}{${job}}[${w}])) > ${t.errorRatio}`,
      for: t.errorRatioFor,
      labels: { severity: 'warning', app },
      annotations: {
        summary: `${app} answers too many 5xx on {{ $labels.env }}`,
        description: `{{ $value | humanizePercentage }} of ${app}'s responses on {{ $labels.env }} are 5xx (threshold ${t.errorRatio * 100}%).`,
      },
    },
    {
      alert: ALERTS.latencyP99,
      expr: `histogram_quantile(0.99, sum by (app, env, le) (rate(${bucket}{${job}}[${w}]))) > ${t.latencyP99}`,
      for: t.latencyFor,
      labels: { severity: 'warning', app },
      annotations: {
        summary: `${app} is slow on {{ $labels.env }}`,
        description: `p99 latency of ${app} on {{ $labels.env }} is {{ $value | humanizeDuration }} (threshold ${t.latencyP99}s).`,
      },
    },
    {
      alert: ALERTS.versionMismatch,
      expr: `count by (app, env) (count by (app, env, git_sha) (${buildInfoMetric(app)}{${job}})) > 1`,
      for: t.versionMismatchFor,
      labels: { severity: 'warning', app },
      annotations: {
        summary: `${app} runs different versions on the hosts of {{ $labels.env }}`,
        description: `{{ $value }} different git shas of ${app} are live on {{ $labels.env }} for ${t.versionMismatchFor}.`,
      },
    },
  ];
}

export function alertRules(apps: string[], t: AlertThresholds, certificates = false): string {
  const doc = {
    groups: [
      ...apps.map((app) => ({ name: `conveyor-${app}`, rules: appAlertRules(app, t) })),
      ...(certificates ? [{ name: 'conveyor-certificates', rules: [certificateRule()] }] : []),
    ],
  };
  return (
    [
      '# Alert rules for every Conveyor app: target down, 5xx ratio, p99 latency, versions differing',
      `# between the hosts of one environment. Written by ${REGENERATE} (its options set the thresholds).`,
    ].join('\n') +
    '\n' +
    stringify(doc, YAML_OPTIONS)
  );
}

// ---------------------------------------------------------------------------------------------
// Alertmanager

/** The Alertmanager config; `${VAR}` references are filled from the environment when it is deployed. */
export function alertmanagerConfig(): string {
  const token = SECRET_ENV.telegramToken;
  const chat = TOOL_ENV.telegramChatId;
  const api = TOOL_ENV.telegramApiUrl;
  const others = [ALERTS.errorRatio, ALERTS.latencyP99, ALERTS.versionMismatch].join('|');
  return `# Alertmanager: every Conveyor alert goes to Telegram, the chat the deploy notices go to.
# The Telegram settings refer to environment variables, filled in when the monitoring stack is
# deployed (${token} is a secret: it only ever lands on the monitoring host, mode 0600).
# Written by ${REGENERATE} when missing; your changes are kept.
route:
  receiver: telegram
  group_by: [alertname, app, env]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: telegram
    telegram_configs:
      - bot_token: \${${token}}
        chat_id: \${${chat}}
        api_url: \${${api}:-${TELEGRAM_API_DEFAULT}}
        send_resolved: true
inhibit_rules:
  # While an app is down on an environment, its other alerts there say nothing new.
  - source_matchers: ['alertname="${ALERTS.targetDown}"']
    target_matchers: ['alertname=~"${others}"']
    equal: [app, env]
`;
}

export class MissingVariableError extends Error {
  override name = 'MissingVariableError';
}

/** Fills the Alertmanager config's `${VAR}` references (same rules as profiles). */
export function renderAlertmanagerConfig(text: string, env: Env): string {
  const result = interpolate(text, env);
  if ('value' in result) return result.value;
  if ('variable' in result) {
    throw new MissingVariableError(
      `The Alertmanager config needs environment variable ${result.variable}, which is not set.`,
    );
  }
  throw new MissingVariableError(
    `The Alertmanager config has a malformed reference ${result.invalid}.`,
  );
}

// ---------------------------------------------------------------------------------------------
// Grafana

export const DASHBOARD_UID = 'conveyor-apps';
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' } as const;
const VARIABLES = 'app=~"$app", env=~"$env"';

export interface DashboardTarget {
  refId: string;
  expr: string;
  legendFormat?: string;
  instant?: boolean;
  range?: boolean;
  format?: 'time_series' | 'table';
  datasource: typeof DATASOURCE;
}

export interface DashboardPanel {
  id: number;
  type: 'timeseries' | 'table' | 'stat';
  title: string;
  description?: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource: typeof DATASOURCE;
  targets: DashboardTarget[];
  fieldConfig: { defaults: Record<string, unknown>; overrides: unknown[] };
  options?: Record<string, unknown>;
  transformations?: unknown[];
}

export interface DashboardVariable {
  type: 'datasource' | 'query';
  name: string;
  label: string;
  query: string | { query: string; refId: string };
  datasource?: typeof DATASOURCE;
  definition?: string;
  refresh?: number;
  includeAll?: boolean;
  multi?: boolean;
  allValue?: string;
  current: Record<string, unknown>;
  hide: number;
  sort?: number;
  regex?: string;
  options: unknown[];
}

export interface Dashboard {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  schemaVersion: number;
  version: number;
  editable: boolean;
  time: { from: string; to: string };
  refresh: string;
  timezone: string;
  graphTooltip: number;
  templating: { list: DashboardVariable[] };
  annotations: { list: Record<string, unknown>[] };
  panels: DashboardPanel[];
}

function target(
  refId: string,
  expr: string,
  extra: Partial<DashboardTarget> = {},
): DashboardTarget {
  return { refId, expr, datasource: DATASOURCE, ...extra };
}

function queryVariable(name: string, label: string, query: string): DashboardVariable {
  return {
    type: 'query',
    name,
    label,
    datasource: DATASOURCE,
    query: { query, refId: `PrometheusVariableQueryEditor-VariableQuery` },
    definition: query,
    refresh: 2,
    includeAll: true,
    multi: true,
    allValue: '.+',
    current: { selected: true, text: ['All'], value: ['$__all'] },
    hide: 0,
    sort: 1,
    regex: '',
    options: [],
  };
}

/**
 * One dashboard for every app: request rate, 5xx ratio, latency quantiles, the live version per
 * environment and host, and the deploys (an annotation from conveyor_deploy_timestamp_seconds).
 */
export function grafanaDashboard(input: {
  apps: string[];
  errorRatio: number;
  latencyP99: number;
}): Dashboard {
  // The apps' own jobs only: the colours' jobs scrape the same backends again (canary analysis).
  const appSeries = `job=~"${input.apps.join('|')}", ${VARIABLES}`;
  const count = `${HTTP_REQUEST_DURATION}_count{${appSeries}}`;
  const errors = `${HTTP_REQUEST_DURATION}_count{${appSeries}, status=~"5.."}`;
  const bucket = `${HTTP_REQUEST_DURATION}_bucket{${appSeries}}`;
  const buildInfo = `{__name__=~"${input.apps.map(buildInfoMetric).join('|')}", ${appSeries}}`;
  const rate = (selector: string) => `rate(${selector}[$__rate_interval])`;
  const quantile = (q: number) =>
    target(
      `p${Math.round(q * 100)}`,
      `histogram_quantile(${q}, sum by (app, env, le) (${rate(bucket)}))`,
      { legendFormat: `p${Math.round(q * 100)} {{app}} {{env}}` },
    );
  const timeseries = (unit: string, extra: Record<string, unknown> = {}) => ({
    defaults: { unit, custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: 10 }, ...extra },
    overrides: [],
  });
  const thresholds = (value: number) => ({
    thresholds: {
      mode: 'absolute',
      steps: [
        { color: 'green', value: null },
        { color: 'red', value },
      ],
    },
  });
  const panels: DashboardPanel[] = [
    {
      id: 1,
      type: 'timeseries',
      title: 'Request rate',
      description: 'Requests per second answered by the backends, per app and environment.',
      gridPos: { h: 8, w: 12, x: 0, y: 0 },
      datasource: DATASOURCE,
      targets: [
        target('A', `sum by (app, env) (${rate(count)})`, { legendFormat: '{{app}} {{env}}' }),
      ],
      fieldConfig: timeseries('reqps'),
    },
    {
      id: 2,
      type: 'timeseries',
      title: 'Error ratio (5xx)',
      description: `Share of 5xx responses; the ${ALERTS.errorRatio} alert fires above ${input.errorRatio * 100}%.`,
      gridPos: { h: 8, w: 12, x: 12, y: 0 },
      datasource: DATASOURCE,
      targets: [
        target('A', `sum by (app, env) (${rate(errors)}) / sum by (app, env) (${rate(count)})`, {
          legendFormat: '{{app}} {{env}}',
        }),
      ],
      fieldConfig: timeseries('percentunit', { min: 0, ...thresholds(input.errorRatio) }),
    },
    {
      id: 3,
      type: 'timeseries',
      title: 'Latency quantiles',
      description: `p50, p90 and p99 request duration; the ${ALERTS.latencyP99} alert fires above ${input.latencyP99}s.`,
      gridPos: { h: 8, w: 12, x: 0, y: 8 },
      datasource: DATASOURCE,
      targets: [quantile(0.5), quantile(0.9), quantile(0.99)],
      fieldConfig: timeseries('s', { min: 0, ...thresholds(input.latencyP99) }),
    },
    {
      id: 4,
      type: 'stat',
      title: 'Targets up',
      description: 'Backends Prometheus scrapes successfully, per app and environment.',
      gridPos: { h: 8, w: 12, x: 12, y: 8 },
      datasource: DATASOURCE,
      targets: [
        target('A', `sum by (app, env) (up{${appSeries}})`, {
          legendFormat: '{{app}} {{env}}',
          instant: true,
          range: false,
        }),
      ],
      fieldConfig: { defaults: { unit: 'none', decimals: 0 }, overrides: [] },
      options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false } },
    },
    {
      id: 5,
      type: 'table',
      title: 'Live version per environment',
      description: 'The git sha and image tag each host serves, from <app>_build_info.',
      gridPos: { h: 8, w: 24, x: 0, y: 16 },
      datasource: DATASOURCE,
      targets: [
        target('A', `max by (app, env, instance, git_sha, image_tag) (${buildInfo})`, {
          format: 'table',
          instant: true,
          range: false,
        }),
        target('B', `max by (app, env, instance) (${DEPLOY_TIMESTAMP}{${appSeries}}) * 1000`, {
          format: 'table',
          instant: true,
          range: false,
        }),
      ],
      fieldConfig: {
        defaults: {},
        overrides: [
          {
            matcher: { id: 'byName', options: 'Value #B' },
            properties: [
              { id: 'unit', value: 'dateTimeAsIso' },
              { id: 'displayName', value: 'deployed at' },
            ],
          },
        ],
      },
      transformations: [
        { id: 'merge', options: {} },
        {
          id: 'organize',
          options: {
            excludeByName: { Time: true, 'Value #A': true },
            indexByName: { app: 0, env: 1, instance: 2, git_sha: 3, image_tag: 4, 'Value #B': 5 },
          },
        },
      ],
    },
  ];
  return {
    uid: DASHBOARD_UID,
    title: 'Conveyor apps',
    description: `Every Conveyor app's backends. Written by ${REGENERATE}.`,
    tags: ['conveyor'],
    schemaVersion: 39,
    version: 1,
    editable: true,
    time: { from: 'now-6h', to: 'now' },
    refresh: '30s',
    timezone: 'browser',
    graphTooltip: 1,
    templating: {
      list: [
        {
          type: 'datasource',
          name: 'datasource',
          label: 'Prometheus',
          query: 'prometheus',
          current: {},
          hide: 0,
          regex: '',
          options: [],
        },
        queryVariable('app', 'App', 'label_values(up{app!=""}, app)'),
        queryVariable('env', 'Environment', 'label_values(up{app=~"$app"}, env)'),
      ],
    },
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
        {
          name: 'Deploys',
          datasource: DATASOURCE,
          enable: true,
          iconColor: 'purple',
          // The value is when the release went live: one marker per deploy, at that time.
          expr: `max by (app, env, tag) (${DEPLOY_TIMESTAMP}{${appSeries}}) * 1000`,
          step: '60s',
          useValueForTime: true,
          titleFormat: 'Deploy {{app}} {{tag}} to {{env}}',
          textFormat: '{{app}} {{tag}} went live on {{env}}',
          tagKeys: 'app,env,tag',
        },
      ],
    },
    panels,
  };
}

const PANEL_TYPES = new Set(['timeseries', 'table', 'stat']);
const GRAFANA_BUILTINS = new Set([
  '__rate_interval',
  '__interval',
  '__interval_ms',
  '__range',
  '__all',
]);

function variablesIn(expr: string): string[] {
  return [...expr.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);
}

/**
 * Checks the dashboard has the structure it claims: panels with a grid position, a Prometheus
 * datasource given by the datasource variable and targets with unique refIds and expressions;
 * every variable an expression uses is defined. Returns the problems (none: valid).
 */
export function dashboardProblems(d: Dashboard): string[] {
  const problems: string[] = [];
  if (!d.uid || !d.title) problems.push('uid and title are required');
  if (typeof d.schemaVersion !== 'number') problems.push('schemaVersion must be a number');
  const variables = d.templating?.list ?? [];
  const names = new Set(variables.map((v) => v.name));
  const ds = variables.find((v) => v.name === 'datasource');
  if (!ds || ds.type !== 'datasource' || ds.query !== 'prometheus') {
    problems.push('a datasource variable "datasource" of type prometheus is required');
  }
  const checkDatasource = (where: string, value: unknown) => {
    const v = value as { type?: string; uid?: string } | undefined;
    if (v?.type !== 'prometheus' || v?.uid !== '${datasource}') {
      problems.push(`${where}: datasource must be {type: prometheus, uid: \${datasource}}`);
    }
  };
  const checkExpr = (where: string, expr: unknown) => {
    if (typeof expr !== 'string' || expr.trim() === '') {
      problems.push(`${where}: empty expression`);
      return;
    }
    for (const name of variablesIn(expr)) {
      if (!names.has(name) && !GRAFANA_BUILTINS.has(name)) {
        problems.push(`${where}: uses undefined variable $${name}`);
      }
    }
  };
  for (const v of variables) {
    if (v.type === 'query') {
      checkDatasource(`variable ${v.name}`, v.datasource);
      checkExpr(`variable ${v.name}`, typeof v.query === 'string' ? v.query : v.query.query);
    }
  }
  if (!Array.isArray(d.panels) || d.panels.length === 0) problems.push('no panels');
  const ids = new Set<number>();
  for (const p of d.panels ?? []) {
    const where = `panel ${p.id} "${p.title}"`;
    if (!Number.isInteger(p.id) || ids.has(p.id))
      problems.push(`${where}: id must be a unique integer`);
    ids.add(p.id);
    if (!PANEL_TYPES.has(p.type)) problems.push(`${where}: unknown type ${p.type}`);
    if (!p.title) problems.push(`${where}: no title`);
    const g = p.gridPos;
    if (
      !g ||
      ![g.h, g.w, g.x, g.y].every((n) => Number.isInteger(n) && n >= 0) ||
      g.w < 1 ||
      g.h < 1 ||
      g.x + g.w > 24
    ) {
      problems.push(`${where}: gridPos must be integers within 24 columns`);
    }
    checkDatasource(where, p.datasource);
    if (!Array.isArray(p.targets) || p.targets.length === 0) problems.push(`${where}: no targets`);
    const refIds = new Set<string>();
    for (const t of p.targets ?? []) {
      if (!t.refId || refIds.has(t.refId)) problems.push(`${where}: refIds must be unique`);
      refIds.add(t.refId);
      checkDatasource(`${where} target ${t.refId}`, t.datasource);
      checkExpr(`${where} target ${t.refId}`, t.expr);
    }
  }
  for (const a of d.annotations?.list ?? []) {
    if (a['builtIn']) continue;
    checkDatasource(`annotation ${String(a['name'])}`, a['datasource']);
    checkExpr(`annotation ${String(a['name'])}`, a['expr']);
  }
  return problems;
}

/**
 * Every PromQL expression of the dashboard with Grafana's variables replaced by what Grafana would
 * send (`$__rate_interval` -> 1m, `$app` -> .+), so promtool can check them.
 */
export function dashboardExpressions(d: Dashboard): string[] {
  const exprs: string[] = [];
  for (const p of d.panels) for (const t of p.targets) exprs.push(t.expr);
  for (const a of d.annotations.list) if (typeof a['expr'] === 'string') exprs.push(a['expr']);
  return exprs.map((e) =>
    e
      .replace(/\$__rate_interval|\$__interval|\$__range/g, '1m')
      .replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, '.+'),
  );
}
