/**
 * The edge: one proxy per host (the compose project `edge_name`, default conveyor-edge, Caddy) that owns ports 80 and
 * 443 for every app and environment there, routes each by its name to the app's own proxy, gets
 * and renews certificates over ACME and redirects HTTP to HTTPS. What one release asks of it is
 * decided here, once, as part of the plan; the host helper (conveyor_host/edge.py) carries it out.
 *
 * Caddy, not HAProxy, for the edge: Debian ships it, and it does ACME (HTTP-01), renewal, routing by
 * name and config changes through an admin API in one binary; HAProxy 2.6 would need an ACME client
 * and a renewal timer beside it. Colour switches stay in the app's HAProxy (zero-downtime, proven by
 * the fault matrix): a release never changes the edge's config, so it never touches another app.
 */
import { environmentName, type Profile } from '../config/profile';

/** The app's secrets that hold a custom certificate and its key (tls: custom), PEM. */
export const CUSTOM_TLS_SECRETS = { cert: 'TLS_CERT', key: 'TLS_KEY' } as const;
/**
 * The names a shared certificate and its key travel under on the helper's stdin beside the app's
 * secrets (tls: shared); never written to the app's secret files, which take the plan's names only.
 */
export const SHARED_TLS_VALUES = {
  cert: 'CONVEYOR_SHARED_TLS_CERT',
  key: 'CONVEYOR_SHARED_TLS_KEY',
} as const;

/**
 * Where a fleet host's copy of the name's certificate comes from: the host that obtains it over
 * ACME (its inventory name), and the address and HTTP port its edge answers ACME challenges on.
 */
export interface CertificateSource {
  host: string;
  address: string;
  http_port: number;
}

/**
 * A fleet behind one name with tls: acme. The first host of the inventory obtains the certificate
 * and renews it; every other host serves a copy that each deploy brings from it (on the helper's
 * stdin, as the app's secrets travel), and passes each ACME challenge it receives for the name on
 * to that host's edge: the CA may reach any host the name resolves to. One order per name, not
 * one per host, so the CA's duplicate-certificate limit is never near. Undefined for every host
 * of a single-host environment, for the first host, and without ACME.
 */
export function certificateSources(
  hosts: { name: string; profile: Profile }[],
): (CertificateSource | undefined)[] {
  const [first] = hosts;
  const shared = hosts.length > 1 && !!first.profile.domain && first.profile.tls === 'acme';
  const source: CertificateSource = {
    host: first.name,
    address: first.profile.ssh_host,
    http_port: first.profile.edge_http_port,
  };
  return hosts.map((_, i) => (shared && i > 0 ? source : undefined));
}

export interface EdgePlan {
  domain: string;
  /** shared: a copy of the certificate another host of the fleet obtains (shared_from). */
  tls: 'acme' | 'custom' | 'shared';
  shared_from?: CertificateSource;
  /** Who holds the name on this host: `<app>/<env>`. Another owner's claim is refused. */
  owner: string;
  /** The app's public port on the host the edge sends the name's requests to. */
  upstream: number;
  /**
   * With a frontend: the backend's public port, which takes `/api/*` (the prefix stripped, as the
   * frontend's nginx does), so the edge reaches the backend without going through the frontend.
   */
  api_upstream?: number;
  /** Path that must answer through the edge once the release is live (the app's backend via /api). */
  check_path: string;
  /** The backend's /metrics through the edge: it must show the release's tag (version_check). */
  version_path?: string;
  path: string;
  /** The edge's compose project and container. */
  name: string;
  image: string;
  http_port: number;
  https_port: number;
  /** renewal_window: the share of a certificate's life left when the edge renews it. */
  acme?: { ca: string; email: string; renewal_window: number; ca_root?: string };
}

/** The host ports the edge owns for this profile: none without a domain (or with tls: off). */
export function edgePorts(profile: Profile): number[] {
  return profile.domain && profile.tls !== 'off'
    ? [profile.edge_http_port, profile.edge_https_port]
    : [];
}

/**
 * What the edge does for this app on this host, or undefined (no domain, or tls: off). The
 * frontend takes the name and the backend its /api/ (the same paths the frontend's nginx serves);
 * an app without a frontend puts its backend at the name.
 */
export function edgePlan(
  app: string,
  profile: Profile,
  ports: { backend: number; frontend?: number },
  opts: {
    caRoot?: string;
    healthPath: string;
    versionCheck: boolean;
    /** A fleet host that serves the certificate another host obtains (certificateSources). */
    certificateFrom?: CertificateSource;
  },
): EdgePlan | undefined {
  if (!profile.domain || profile.tls === 'off') return undefined;
  const api = ports.frontend === undefined ? '' : '/api';
  const plan: EdgePlan = {
    domain: profile.domain,
    tls: opts.certificateFrom ? 'shared' : profile.tls,
    ...(opts.certificateFrom ? { shared_from: opts.certificateFrom } : {}),
    owner: `${app}/${environmentName(profile)}`,
    upstream: ports.frontend ?? ports.backend,
    ...(ports.frontend === undefined ? {} : { api_upstream: ports.backend }),
    check_path: `${api}${opts.healthPath}`,
    path: profile.edge_path,
    name: profile.edge_name,
    image: profile.edge_image,
    http_port: profile.edge_http_port,
    https_port: profile.edge_https_port,
  };
  if (opts.versionCheck) plan.version_path = `${api}/metrics`;
  if (plan.tls === 'acme')
    plan.acme = {
      ca: profile.acme_ca,
      email: profile.acme_email,
      renewal_window: profile.acme_renewal_window,
      ...(opts.caRoot ? { ca_root: opts.caRoot } : {}),
    };
  return plan;
}

/** The address a person opens: https://<domain>, with the port when it is not 443. */
export function edgeUrl(edge: Pick<EdgePlan, 'domain' | 'https_port'>): string {
  return `https://${edge.domain}${edge.https_port === 443 ? '' : `:${edge.https_port}`}`;
}
