import { buildInfo } from './build-info';

describe('buildInfo', () => {
  it('computes image names from registry, namespace, app and tag without credentials', () => {
    const info = buildInfo({
      app: 'shop',
      hasFrontend: true,
      gitSha: 'abc1234',
      tag: 'abc1234',
      profile: 'staging',
      registry: 'https://ci:pw@reg.example.com',
      namespace: 'acme',
      now: new Date('2026-01-01T00:00:00Z'),
    });
    expect(info).toEqual({
      git_sha: 'abc1234',
      image_tag: 'abc1234',
      profile: { active: 'staging', registry: 'reg.example.com' },
      registry_namespace: 'acme',
      images: {
        backend: 'reg.example.com/acme/shop_backend:abc1234',
        frontend: 'reg.example.com/acme/shop_frontend:abc1234',
      },
      built_at: '2026-01-01T00:00:00.000Z',
    });
  });
  it('has no frontend image for a backend-only app', () => {
    const info = buildInfo({
      app: 'api',
      hasFrontend: false,
      gitSha: 's',
      tag: 't',
      profile: 'local',
      registry: 'r',
      namespace: 'n',
      now: new Date(),
    });
    expect(info.images.frontend).toBeNull();
  });
});
