import type { Profile } from '../config/profile';
import type { ReleasePlan } from '../release/release-plan';
import { releaseBundle } from './bundle';

const profile = { name: 'staging', deploy_path: '/srv/apps' } as Profile;
const plan = {
  app: 'shop',
  env: 'staging',
  run_id: 'r1',
  app_path: '/srv/apps/shop',
} as ReleasePlan;
const auth = { user: 'ci', password: 'pw', secrets: { API_KEY: 'k' } };

describe('a release bundle (what release-bundle writes before carrying the plan out)', () => {
  it('holds what the playbook uploads: plan and compose file (0600), the override in each release folder, the hook before the switch', () => {
    const b = releaseBundle({
      plan,
      profile,
      compose: 'services: {}\n',
      override: 'x: 1\n',
      beforeSwitch: '#!/bin/sh\n',
      auth,
    });
    expect(b.plan).toBe('/srv/apps/shop/.conveyor/runs/r1.plan.json');
    expect(b.files.map((f) => [f.path, f.mode])).toEqual([
      ['/srv/apps/shop/.conveyor/runs/r1.plan.json', '600'],
      ['/srv/apps/shop/.conveyor/runs/r1.compose.yml', '600'],
      ['/srv/apps/shop/docker-compose.override.yml', '640'],
      ['/srv/apps/shop/blue/docker-compose.override.yml', '640'],
      ['/srv/apps/shop/green/docker-compose.override.yml', '640'],
      ['/srv/apps/shop/.conveyor/runs/r1.before-switch', '700'],
    ]);
    expect(JSON.parse(b.files[0].content)).toEqual(plan);
    expect(b.remove).toEqual([]);
    expect(b.auth).toEqual(auth);
  });

  it('removes an override that is no longer in the workspace, and has no hook without one', () => {
    const b = releaseBundle({ plan, profile, compose: '', auth });
    expect(b.remove).toEqual([
      '/srv/apps/shop/docker-compose.override.yml',
      '/srv/apps/shop/blue/docker-compose.override.yml',
      '/srv/apps/shop/green/docker-compose.override.yml',
    ]);
    expect(b.files.map((f) => f.path)).toHaveLength(2);
  });
});
