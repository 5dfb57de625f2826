/**
 * Names of the metrics the generated backend exposes in the Prometheus format, as the monitoring
 * generator's scrape config, alert rules and dashboard use them. The backend template
 * (generators/app/files/backend/src/metrics.ts) spells the same names; a test keeps them equal.
 */

/** `GET /metrics?format=prometheus` forces the Prometheus text format. */
export const METRICS_PATH = '/metrics';
export const FORMAT_PARAM = 'format';
export const PROMETHEUS_FORMAT = 'prometheus';

/** What Prometheus 2.x sends in its Accept header when it scrapes. */
export const PROMETHEUS_SCRAPE_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,' +
  'text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

/** Histogram of every answered request. */
export const HTTP_REQUEST_DURATION = 'http_request_duration_seconds';
export const HTTP_REQUEST_LABELS = ['method', 'route', 'status'] as const;

/** When the running release went live (from CONVEYOR_DEPLOYED_AT), in seconds since the epoch. */
export const DEPLOY_TIMESTAMP = 'conveyor_deploy_timestamp_seconds';
export const DEPLOY_TIMESTAMP_LABELS = ['app', 'env', 'tag'] as const;

export const BUILD_INFO_LABELS = ['git_sha', 'image_tag', 'profile', 'version'] as const;

/** Labels the scrape config puts on every target of an app. */
export const TARGET_LABELS = ['app', 'env'] as const;

/** An app name as a metric name prefix: `shop-api` -> `shop_api` (metric names allow no dashes). */
export function metricPrefix(app: string): string {
  return app.replace(/[^a-zA-Z0-9_]/g, '_');
}

/** `<app>_build_info`: 1, labelled with the release that runs (Prometheus's `*_build_info` convention). */
export function buildInfoMetric(app: string): string {
  return `${metricPrefix(app)}_build_info`;
}

/** A valid Prometheus metric name. */
export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
