import { certificateSources, edgePlan, edgeUrl } from './edge';
import type { Profile } from '../config/profile';

const profile = {
  name: 'staging',
  domain: 'staging.shop.example.com',
  tls: 'acme',
  acme_email: 'ops@shop.example.com',
  acme_ca: 'https://acme-staging-v02.api.letsencrypt.org/directory',
  edge_path: '/opt/conveyor/conveyor-edge',
  edge_image: 'caddy:2',
  edge_http_port: 80,
  edge_https_port: 443,
  preview_ttl: 604800,
  edge_name: 'conveyor-edge',
  acme_renewal_window: 0.33,
  preview_ports: { first: 30000, last: 30999 },
} as Profile;
const opts = { healthPath: '/health', versionCheck: true };

describe('edge plan', () => {
  it('puts the frontend at the name and the backend at /api, and checks the backend through /api', () => {
    expect(edgePlan('shop', profile, { backend: 8080, frontend: 5173 }, opts)).toEqual({
      domain: 'staging.shop.example.com',
      tls: 'acme',
      owner: 'shop/staging',
      upstream: 5173,
      api_upstream: 8080,
      check_path: '/api/health',
      version_path: '/api/metrics',
      path: '/opt/conveyor/conveyor-edge',
      name: 'conveyor-edge',
      image: 'caddy:2',
      http_port: 80,
      https_port: 443,
      acme: {
        ca: 'https://acme-staging-v02.api.letsencrypt.org/directory',
        email: 'ops@shop.example.com',
        renewal_window: 0.33,
      },
    });
  });

  it('puts a backend alone at the name', () => {
    const e = edgePlan('api', profile, { backend: 8080 }, { ...opts, caRoot: 'PEM' });
    expect(e).toMatchObject({ upstream: 8080, check_path: '/health', version_path: '/metrics' });
    expect(e?.api_upstream).toBeUndefined();
    expect(e?.acme?.ca_root).toBe('PEM');
  });

  it('is off without a domain or with tls: off; custom has no ACME', () => {
    expect(
      edgePlan('shop', { ...profile, domain: undefined }, { backend: 1 }, opts),
    ).toBeUndefined();
    expect(edgePlan('shop', { ...profile, tls: 'off' }, { backend: 1 }, opts)).toBeUndefined();
    expect(
      edgePlan('shop', { ...profile, tls: 'custom' }, { backend: 1 }, opts)?.acme,
    ).toBeUndefined();
  });

  it('a fleet behind one name: the first host obtains the certificate, the others serve its copy', () => {
    const host = (name: string, ssh_host: string, over: Partial<Profile> = {}) => ({
      name,
      profile: { ...profile, ssh_host, ...over },
    });
    const fleet = [host('web-1', '10.0.0.1', { edge_http_port: 8080 }), host('web-2', '10.0.0.2')];
    const source = { host: 'web-1', address: '10.0.0.1', http_port: 8080 };
    expect(certificateSources(fleet)).toEqual([undefined, source]);
    // One host, custom certificates, no name: nothing is shared.
    expect(certificateSources(fleet.slice(0, 1))).toEqual([undefined]);
    expect(
      certificateSources(fleet.map((h) => ({ ...h, profile: { ...h.profile, tls: 'custom' } }))),
    ).toEqual([undefined, undefined]);
    expect(
      certificateSources(
        fleet.map((h) => ({ ...h, profile: { ...h.profile, domain: undefined } })),
      ),
    ).toEqual([undefined, undefined]);
    const copy = edgePlan('shop', profile, { backend: 8080 }, { ...opts, certificateFrom: source });
    expect(copy).toMatchObject({ tls: 'shared', shared_from: source, domain: profile.domain });
    expect(copy?.acme).toBeUndefined();
  });

  it('names the port in the address only when it is not 443', () => {
    expect(edgeUrl({ domain: 'a.test', https_port: 443 })).toBe('https://a.test');
    expect(edgeUrl({ domain: 'a.test', https_port: 8443 })).toBe('https://a.test:8443');
  });
});
