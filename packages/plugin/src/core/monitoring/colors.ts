/**
 * The colours of a blue-green or canary release as Prometheus sees them: one scrape job per app,
 * `<app>-colors`, whose targets are each host's two colour ports (loopback ports beside the
 * proxy), labelled app, env, host (the inventory name) and color. The monitoring generator writes
 * those targets; a canary's analysis selects the new colour of its own host with these labels.
 * One place for the names both sides use, so the query always matches what is scraped.
 */
/** Labels every colour target carries. */
export const COLOR_TARGET_LABELS = ['app', 'env', 'host', 'color'] as const;

/** The scrape job of an app's colours (apart from `<app>`, which scrapes the public port). */
export function colorJob(app: string): string {
  return `${app}-colors`;
}

/** Where the monitoring folder keeps the colour targets (file_sd, one file per app and env). */
export const COLOR_TARGETS_DIR = 'prometheus/targets/colors';

export function colorTargetFileName(app: string, env: string): string {
  return `${COLOR_TARGETS_DIR}/${app}.${env}.yml`;
}

/** A PromQL label value, quoted (backslashes and quotes escaped). */
function quoted(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * The label matchers of one host's colours of one app and env, without braces and without the
 * colour (the host adds `color="<new colour>"` or the stable one):
 * `job="shop-colors",app="shop",env="staging",host="staging-1"`.
 */
export function colorSelector(app: string, env: string, host: string): string {
  return [
    `job=${quoted(colorJob(app))}`,
    `app=${quoted(app)}`,
    `env=${quoted(env)}`,
    `host=${quoted(host)}`,
  ].join(',');
}
