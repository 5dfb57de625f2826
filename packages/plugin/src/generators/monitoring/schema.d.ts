export interface MonitoringGeneratorSchema {
  /** Folder (relative to the workspace root) the monitoring files go to. */
  directory?: string;
  /** Environments (profiles) to scrape; default: every profile the apps' deploy targets use. */
  environments?: string[] | string;
  scrapeInterval?: string;
  evaluationInterval?: string;
  /** host:port Prometheus sends alerts to; empty: no alerting section. */
  alertmanager?: string;
  targetDownFor?: string;
  errorRatio?: number;
  errorRatioFor?: string;
  latencyP99?: number;
  latencyFor?: string;
  versionMismatchFor?: string;
  rateWindow?: string;
  /** Also write the stack (Prometheus + Alertmanager compose services) and a project that deploys it. */
  deploy?: boolean;
  /** Name of that project. */
  project?: string;
  /** Profile its deploy target uses by default. */
  profile?: string;
  /** Host ports of Prometheus and Alertmanager on the monitoring host. */
  prometheusPort?: number;
  alertmanagerPort?: number;
  skipFormat?: boolean;
}
