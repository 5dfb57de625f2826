import { readNxJson } from '@nx/devkit';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { parse } from 'yaml';
import { envVarDocs } from '../../core/names';
import { parseProfile } from '../../core/profile';
import { initGenerator } from './init';

describe('init generator', () => {
  it('writes the three profiles as environment references', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await initGenerator(tree, {});
    for (const name of ['local', 'staging', 'production']) {
      expect(tree.exists(`config/profiles/${name}.yml`)).toBe(true);
    }
    const staging = tree.read('config/profiles/staging.yml', 'utf-8') ?? '';
    expect(parse(staging)).toMatchObject({
      registry: '${REGISTRY_URL}',
      registry_namespace: '${REGISTRY_NS}',
      ssh_host: '${STAGING_SSH_HOST}',
      ssh_user: '${STAGING_SSH_USER:-deploy}',
      ssh_port: '${STAGING_SSH_PORT:-22}',
      deploy_path: '${STAGING_DEPLOY_PATH:-/opt/conveyor}',
      compose_command: '${STAGING_COMPOSE_COMMAND:-docker compose}',
    });
    expect(tree.read('config/profiles/production.yml', 'utf-8')).toContain(
      '${PRODUCTION_SSH_HOST}',
    );
  });

  it('writes profiles the loader accepts', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await initGenerator(tree, {});
    const env = {
      REGISTRY_URL: 'r.example.com',
      REGISTRY_NS: 'acme',
      PRODUCTION_SSH_HOST: 'prod.example.com',
    };
    const prod = parseProfile(
      'production',
      'p.yml',
      tree.read('config/profiles/production.yml', 'utf-8') ?? '',
      env,
    );
    expect(prod).toMatchObject({
      ssh_host: 'prod.example.com',
      ssh_user: 'deploy',
      ssh_port: 22,
      connection: 'ssh',
    });
    const local = parseProfile(
      'local',
      'l.yml',
      tree.read('config/profiles/local.yml', 'utf-8') ?? '',
      {},
    );
    expect(local).toMatchObject({
      connection: 'local',
      registry: 'localhost:5000',
      registry_namespace: 'conveyor',
    });
  });

  it('lists every variable in env.example with a comment line', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await initGenerator(tree, {});
    const lines = (tree.read('env.example', 'utf-8') ?? '').split('\n');
    for (const v of envVarDocs()) {
      const at = lines.findIndex((l) => l.startsWith(`${v.name}=`));
      expect(at).toBeGreaterThan(0);
      expect(lines[at - 1]).toMatch(/^# \S/);
    }
    expect(lines.some((l) => l.startsWith('REGISTRY_PASS='))).toBe(true);
    expect(lines.some((l) => l.startsWith('PRODUCTION_SSH_KNOWN_HOSTS='))).toBe(true);
  });

  it('adds cache settings for the cacheable executors to nx.json', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await initGenerator(tree, {});
    const defaults = (readNxJson(tree)?.targetDefaults ?? {}) as Record<
      string,
      { inputs?: unknown[] }
    >;
    expect(defaults['@conveyor/plugin:metrics-inject']).toMatchObject({ cache: true });
    expect(defaults['@conveyor/plugin:metrics-inject'].inputs).toContainEqual({
      runtime: 'git rev-parse HEAD',
    });
    expect(defaults['@conveyor/plugin:build-push']).toMatchObject({
      cache: true,
      dependsOn: ['^build', '^metrics-inject'],
    });
    expect(defaults['@conveyor/plugin:deploy']).toMatchObject({ cache: false });
  });

  it('keeps a profile the user already changed', async () => {
    const tree = createTreeWithEmptyWorkspace();
    tree.write('config/profiles/staging.yml', 'registry: mine\n');
    await initGenerator(tree, {});
    expect(tree.read('config/profiles/staging.yml', 'utf-8')).toBe('registry: mine\n');
    expect(tree.exists('config/profiles/local.yml')).toBe(true);
  });
});
