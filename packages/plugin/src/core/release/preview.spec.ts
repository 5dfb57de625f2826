import { parseProfile } from '../config/profile';
import { deployModel } from './deploy-model';
import { planRelease } from './release-plan';
import {
  expiredPreviews,
  formatPreviews,
  parsePr,
  previewPorts,
  previewProfile,
  PreviewOnHost,
} from './preview';

const STAGING = [
  'registry: reg.example.com',
  'registry_namespace: acme',
  'ssh_host: staging.example.com',
  'ssh_user: deploy',
  'deploy_path: /opt/conveyor',
  'strategy: blue-green',
  'domain: staging.shop.test',
  'preview_domain: preview.shop.test',
  'preview_ports: 30000-30005',
  'preview_ttl: 2d',
  '',
].join('\n');
const staging = parseProfile('staging', 'config/profiles/staging.yml', STAGING, {});
const on = (app: string, pr: number, backend: number, updated = '2026-12-01T00:00:00Z') =>
  ({ app, pr, path: '', updated, ports: { backend, frontend: backend + 1 } }) as PreviewOnHost;

describe('previews', () => {
  it('a preview is its own environment: its folder under the profile, its name under preview_domain, recreate', () => {
    const p = previewProfile(staging, 7);
    expect(p).toMatchObject({
      name: 'staging',
      preview: 7,
      deploy_path: '/opt/conveyor/previews/pr-7',
      domain: 'pr-7.preview.shop.test',
      tls: 'acme',
      strategy: 'recreate',
    });
    expect(staging.preview_ttl).toBe(2 * 86400);
  });

  it('a release of a preview never names the profile own environment: projects, owner, folder and reported profile are pr-<n>', () => {
    const model = deployModel({
      app: 'shop',
      options: {
        backendPort: 8080,
        frontendPort: 8081,
        domain: 'shop.test',
        strategy: 'blue-green',
      },
      profile: staging,
      env: { BACKEND_PORT: '9000' },
      preview: { pr: 7, ports: { backend: 30002, frontend: 30003 } },
    });
    expect(model.strategy).toBe('recreate');
    const plan = planRelease({
      runId: 'r1',
      action: 'deploy',
      model,
      host: model.hosts[0],
      deployer: 'ci',
      target: {
        tag: 'abc1234',
        gitSha: 'abc1234',
        digests: { backend: 'sha256:a', frontend: 'sha256:b' },
      },
      force: false,
    });
    expect(plan).toMatchObject({
      env: 'pr-7',
      app_path: '/opt/conveyor/previews/pr-7/shop',
      project_prefix: 'shop-pr-7',
      strategy: 'recreate',
      public_ports: { backend: 30002, frontend: 30003 },
      compose_env: { CONVEYOR_PROFILE: 'pr-7' },
      edge: {
        domain: 'pr-7.preview.shop.test',
        owner: 'shop/pr-7',
        upstream: 30003,
        api_upstream: 30002,
      },
    });
  });

  it('each host of a fleet keeps its own deploy path and project prefix, with the preview under them', () => {
    const model = deployModel({
      app: 'shop',
      options: { backendPort: 8080 },
      profile: staging,
      env: {},
      inventory: {
        app: { hosts: ['a', 'b'] },
        _meta: {
          hostvars: {
            a: { ansible_host: 'a.test', conveyor_deploy_path: '/srv/a' },
            b: { ansible_host: 'b.test', conveyor_compose_project: 'shop-b' },
          },
        },
      },
      preview: { pr: 3, ports: { backend: 30000 } },
    });
    expect(model.hosts.map((h) => [h.profile.deploy_path, h.projectPrefix, h.ports])).toEqual([
      ['/srv/a/previews/pr-3', undefined, { backend: 30000 }],
      ['/opt/conveyor/previews/pr-3', 'shop-b-pr-3', { backend: 30000 }],
    ]);
  });

  it('needs a preview_domain, and refuses tls: off', () => {
    const bare = parseProfile('staging', 's.yml', STAGING.replace(/preview_domain.*\n/, ''), {});
    expect(() => previewProfile(bare, 7)).toThrow('s.yml sets no preview_domain');
    const off = parseProfile(
      'staging',
      's.yml',
      `${STAGING.replace(/domain: staging.*\n/, '')}tls: off\n`,
      {},
    );
    expect(() => previewProfile(off, 7)).toThrow('tls: off');
  });

  it('ports: a preview keeps its own; a new one takes the first pair no preview holds; a full range is named', () => {
    const list = [on('shop', 7, 30000), on('blog', 7, 30004)];
    expect(previewPorts(staging, 'shop', 7, true, list)).toEqual({
      backend: 30000,
      frontend: 30001,
    });
    expect(previewPorts(staging, 'shop', 8, true, list)).toEqual({
      backend: 30002,
      frontend: 30003,
    });
    expect(previewPorts(staging, 'shop', 8, false, list)).toEqual({ backend: 30002 });
    expect(() => previewPorts(staging, 'shop', 9, true, [...list, on('shop', 8, 30002)])).toThrow(
      "Every port pair of config/profiles/staging.yml's preview_ports (30000-30005) is held by a preview",
    );
  });

  it('expired: older than preview_ttl since the last deploy; status says so', () => {
    const now = new Date('2026-12-05T00:00:00Z');
    const list = [
      on('shop', 1, 30000, '2026-12-01T00:00:00Z'),
      on('shop', 2, 30002, '2026-12-04T00:00:00Z'),
    ];
    expect(expiredPreviews(list, staging.preview_ttl, now).map((p) => p.pr)).toEqual([1]);
    const lines = formatPreviews(
      [{ ...list[0], domain: 'pr-1.preview.shop.test', tag: 'abc' }],
      staging,
      now,
    );
    expect(lines).toEqual([
      '  preview pr-1: https://pr-1.preview.shop.test serves abc, last deployed 4d ago, expired: the next preview deploy or --prune removes it',
    ]);
  });

  it('--pr is a pull request number', () => {
    expect(parsePr('12')).toBe(12);
    expect(() => parsePr('7; rm -rf /')).toThrow('--pr must be a pull request number');
    expect(() => parsePr(0)).toThrow('--pr must be a pull request number');
  });

  it('profile keys are checked: preview_ttl a lifetime, preview_ports a range', () => {
    const parse = (extra: string) =>
      parseProfile('s', 's.yml', `${STAGING.replace(/preview_(ttl|ports).*\n/g, '')}${extra}`, {});
    expect(parse('preview_ttl: 36h\n').preview_ttl).toBe(36 * 3600);
    expect(() => parse('preview_ttl: soon\n')).toThrow('key "preview_ttl" must be a lifetime');
    expect(() => parse('preview_ports: 31000-30000\n')).toThrow(
      'key "preview_ports" must be a range',
    );
    expect(parse('').preview_ports).toEqual({ first: 30000, last: 30999 });
  });
});
