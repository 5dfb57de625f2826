/**
 * Certificates of the apps' domains, watched from the monitoring stack: a blackbox exporter (its
 * stock `http_2xx` module) asks each domain over HTTPS as a browser would reach it (through DNS,
 * on the edge's HTTPS port) and Prometheus keeps `probe_ssl_earliest_cert_expiry`; an alert fires when a certificate
 * expires within CERTIFICATE_ALERT_DAYS (the edge renews with a third of its life left, so a
 * certificate this close to its end is one the edge could not renew).
 */
export const TLS_JOB = 'conveyor-tls';
export const CERTIFICATE_ALERT = 'ConveyorCertificateExpiresSoon';
export const CERTIFICATE_ALERT_DAYS = 14;
/** The blackbox exporter as Prometheus reaches it (a service of the stack's compose project). */
export const BLACKBOX_ADDRESS = 'blackbox:9115';

/** One app's name in one environment, probed at host:port. */
export interface TlsTarget {
  app: string;
  env: string;
  domain: string;
  port: number;
}

/** The scrape job: each domain goes to the exporter as ?target=, and keeps its labels. */
export function tlsScrapeJob(targets: TlsTarget[]) {
  return {
    job_name: TLS_JOB,
    metrics_path: '/probe',
    params: { module: ['http_2xx'] },
    static_configs: targets.map((t) => ({
      targets: [`https://${t.domain}${t.port === 443 ? '' : `:${t.port}`}/`],
      labels: { app: t.app, env: t.env, domain: t.domain },
    })),
    relabel_configs: [
      { source_labels: ['__address__'], target_label: '__param_target' },
      { source_labels: ['__param_target'], target_label: 'instance' },
      { target_label: '__address__', replacement: BLACKBOX_ADDRESS },
    ],
  };
}

export function certificateRule() {
  return {
    alert: CERTIFICATE_ALERT,
    expr: `probe_ssl_earliest_cert_expiry{job="${TLS_JOB}"} - time() < ${CERTIFICATE_ALERT_DAYS} * 86400`,
    for: '1h',
    labels: { severity: 'warning' },
    annotations: {
      summary: 'The certificate of {{ $labels.domain }} expires soon',
      description: `The certificate {{ $labels.domain }} presents ({{ $labels.app }} on {{ $labels.env }}) expires in {{ $value | humanizeDuration }}: the edge renews with a third of its life left, so it could not renew it (see the edge's log on the host).`,
    },
  };
}
