import {
  logger,
  readNxJson,
  readProjectConfiguration,
  Tree,
  updateProjectConfiguration,
} from '@nx/devkit';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';
import {
  BUILD_INFO_LABELS,
  buildInfoMetric,
  DEPLOY_TIMESTAMP,
  DEPLOY_TIMESTAMP_LABELS,
  HTTP_REQUEST_DURATION,
  HTTP_REQUEST_LABELS,
} from '../../core/monitoring/metrics';
import {
  dashboardExpressions,
  dashboardProblems,
  renderAlertmanagerConfig,
  type Dashboard,
} from '../../core/monitoring/monitoring';
import { appGenerator } from '../app/app';
import { CERTIFICATE_ALERT, TLS_JOB } from '../../core/monitoring/certificates';
import { monitoringGenerator } from './monitoring';
import type { MonitoringGeneratorSchema } from './schema';

const ENV = { STAGING_SSH_HOST: '10.0.0.5' };

async function workspace(): Promise<Tree> {
  const tree = createTreeWithEmptyWorkspace();
  await appGenerator(tree, { name: 'shop', skipInstall: true, skipFormat: true });
  await appGenerator(tree, {
    name: 'shop-api',
    frontend: 'none',
    backendPort: 8095,
    skipInstall: true,
    skipFormat: true,
  });
  return tree;
}

const gen = (
  tree: Tree,
  options: MonitoringGeneratorSchema = {},
  env: Record<string, string> = ENV,
) => monitoringGenerator(tree, { skipFormat: true, ...options }, env);

const read = (tree: Tree, path: string) => {
  const text = tree.read(path, 'utf-8');
  if (text === null) throw new Error(`${path} was not written`);
  return text;
};
const yaml = (tree: Tree, path: string) => parse(read(tree, path));
/** The target lists of one folder (the colours' folder is not one of them). */
const lists = (tree: Tree, path: string) =>
  tree
    .children(path)
    .filter((c) => c.endsWith('.yml'))
    .sort();
/** Every file under `path`, relative to it. */
const filesUnder = (tree: Tree, path: string): string[] =>
  tree
    .children(path)
    .flatMap((c) =>
      tree.isFile(`${path}/${c}`) ? [c] : filesUnder(tree, `${path}/${c}`).map((f) => `${c}/${f}`),
    );
/** A file_sd glob as Prometheus reads it (Go's filepath.Match: `*` does not cross `/`). */
const globMatches = (pattern: string, path: string) => {
  const escape = (part: string) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${pattern.split('*').map(escape).join('[^/]*')}$`).test(path);
};

/** Writes the tree's files under `dir` to a temp folder, for the real tools. */
function materialize(tree: Tree, dir: string): string {
  const out = mkdtempSync(join(tmpdir(), 'conveyor-monitoring-'));
  const walk = (path: string) => {
    for (const child of tree.children(path)) {
      const p = `${path}/${child}`;
      if (tree.isFile(p)) {
        mkdirSync(dirname(join(out, p)), { recursive: true });
        writeFileSync(join(out, p), tree.read(p) ?? '');
      } else walk(p);
    }
  };
  walk(dir);
  return join(out, dir);
}

function tool(command: string, args: string[], cwd: string) {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8' });
  if (r.error) {
    throw new Error(
      `${command} is not installed (${r.error.message}): run bash tools/env/up.sh, which installs it.`,
    );
  }
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('monitoring generator', () => {
  let tree: Tree;
  let warn: jest.SpyInstance;
  beforeEach(async () => {
    tree = await workspace();
    warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => warn.mockRestore());

  it('writes the scrape config, target lists, rules, Alertmanager config, dashboard and README', async () => {
    await gen(tree);
    for (const f of [
      'monitoring/prometheus/prometheus.yml',
      'monitoring/prometheus/rules/conveyor.rules.yml',
      'monitoring/alertmanager/alertmanager.yml',
      'monitoring/grafana/conveyor-dashboard.json',
      'monitoring/README.md',
    ]) {
      expect(tree.exists(f)).toBe(true);
    }
    const perEnv = [
      'shop-api.local.yml',
      'shop-api.production.yml',
      'shop-api.staging.yml',
      'shop.local.yml',
      'shop.production.yml',
      'shop.staging.yml',
    ];
    expect(lists(tree, 'monitoring/prometheus/targets')).toEqual(perEnv);
    expect(lists(tree, 'monitoring/prometheus/targets/colors')).toEqual(perEnv);
    const config = yaml(tree, 'monitoring/prometheus/prometheus.yml');
    expect(config.scrape_configs.map((j: { job_name: string }) => j.job_name)).toEqual([
      'shop',
      'shop-colors',
      'shop-api',
      'shop-api-colors',
    ]);
    // No stack without --deploy.
    expect(tree.exists('monitoring/docker-compose.yml')).toBe(false);
    expect(tree.exists('monitoring/project.json')).toBe(false);
  });

  it('targets ssh_host:backendPort per environment, from the profiles, inventories and deploy targets', async () => {
    await gen(tree);
    const targets = (app: string, env: string) =>
      yaml(tree, `monitoring/prometheus/targets/${app}.${env}.yml`);
    expect(targets('shop', 'staging')).toEqual([
      { targets: ['10.0.0.5:8080'], labels: { app: 'shop', env: 'staging' } },
    ]);
    expect(targets('shop-api', 'staging')).toEqual([
      { targets: ['10.0.0.5:8095'], labels: { app: 'shop-api', env: 'staging' } },
    ]);
    expect(targets('shop', 'local')).toEqual([
      { targets: ['localhost:8080'], labels: { app: 'shop', env: 'local' } },
    ]);
    // PRODUCTION_SSH_HOST is not set: no target, and the file says why.
    expect(targets('shop', 'production')).toEqual([]);
    expect(read(tree, 'monitoring/prometheus/targets/shop.production.yml')).toContain(
      'PRODUCTION_SSH_HOST was not set',
    );
    expect(warn).toHaveBeenCalledWith(
      'shop on production: host production-1 is not in monitoring/prometheus/targets/shop.production.yml ' +
        'because PRODUCTION_SSH_HOST is not set; set it and run the generator again.',
    );
  });

  it("scrapes each host's colours in a job of their own, labelled app, env, host and color", async () => {
    tree.write(
      'apps/shop/infra/ansible/inventory/staging',
      '[app]\nstaging-1 ansible_host="{{ conveyor_ssh_host }}"\nstaging-2 ansible_host=10.0.0.6 conveyor_backend_port=9090\n',
    );
    await gen(tree);
    const labels = (host: string, color: string) => ({ app: 'shop', env: 'staging', host, color });
    expect(yaml(tree, 'monitoring/prometheus/targets/colors/shop.staging.yml')).toEqual([
      { targets: ['10.0.0.5:18080'], labels: labels('staging-1', 'blue') },
      { targets: ['10.0.0.5:28080'], labels: labels('staging-1', 'green') },
      { targets: ['10.0.0.6:19090'], labels: labels('staging-2', 'blue') },
      { targets: ['10.0.0.6:29090'], labels: labels('staging-2', 'green') },
    ]);
    expect(yaml(tree, 'monitoring/prometheus/targets/colors/shop.local.yml')).toEqual([
      {
        targets: ['localhost:18080'],
        labels: { app: 'shop', env: 'local', host: 'local-1', color: 'blue' },
      },
      {
        targets: ['localhost:28080'],
        labels: { app: 'shop', env: 'local', host: 'local-1', color: 'green' },
      },
    ]);
    expect(yaml(tree, 'monitoring/prometheus/targets/colors/shop.production.yml')).toEqual([]);

    // Each job reads exactly its own lists: the public glob does not reach into the colours' folder.
    const config = yaml(tree, 'monitoring/prometheus/prometheus.yml');
    const files = filesUnder(tree, 'monitoring/prometheus').filter((f) => f.startsWith('targets/'));
    const listed = (job: string) => {
      const globs: string[] = config.scrape_configs.find(
        (j: { job_name: string }) => j.job_name === job,
      ).file_sd_configs[0].files;
      return files.filter((f) => globs.some((g) => globMatches(g, f))).sort();
    };
    expect(listed('shop')).toEqual([
      'targets/shop.local.yml',
      'targets/shop.production.yml',
      'targets/shop.staging.yml',
    ]);
    expect(listed('shop-colors')).toEqual([
      'targets/colors/shop.local.yml',
      'targets/colors/shop.production.yml',
      'targets/colors/shop.staging.yml',
    ]);

    // No alert rule looks at the colours (a colour that is not running is down there, by design).
    const rules = yaml(tree, 'monitoring/prometheus/rules/conveyor.rules.yml').groups.flatMap(
      (g: { rules: { expr: string }[] }) => g.rules,
    );
    for (const rule of rules) expect(rule.expr).not.toMatch(/-colors/);
  });

  it('adds every host of an inventory and follows a changed backendPort', async () => {
    tree.write(
      'apps/shop/infra/ansible/inventory/staging',
      '[app]\nstaging-1 ansible_host="{{ conveyor_ssh_host }}"\nstaging-2 ansible_host=10.0.0.6\n',
    );
    const project = readProjectConfiguration(tree, 'shop');
    project.targets!['deploy'].options.backendPort = 8181;
    tree.write('apps/shop/project.json', JSON.stringify(project));
    await gen(tree);
    expect(yaml(tree, 'monitoring/prometheus/targets/shop.staging.yml')[0].targets).toEqual([
      '10.0.0.5:8181',
      '10.0.0.6:8181',
    ]);
  });

  it('--environments limits the environments, and regenerating drops target lists that are gone', async () => {
    await gen(tree);
    tree.write('monitoring/prometheus/targets/colors/gone.staging.yml', '[]\n');
    await gen(tree, { environments: ['local'] });
    expect(tree.children('monitoring/prometheus/targets').sort()).toEqual([
      'colors',
      'shop-api.local.yml',
      'shop.local.yml',
    ]);
    expect(tree.children('monitoring/prometheus/targets/colors').sort()).toEqual([
      'shop-api.local.yml',
      'shop.local.yml',
    ]);
    await expect(gen(tree, { environments: 'local,qa' })).rejects.toThrow(
      '--environments: config/profiles/qa.yml does not exist.',
    );
  });

  it('sets intervals and thresholds from its options', async () => {
    await gen(tree, {
      scrapeInterval: '1s',
      evaluationInterval: '2s',
      targetDownFor: '0s',
      errorRatio: 0.2,
      latencyP99: 0.25,
      alertmanager: '',
    });
    const config = yaml(tree, 'monitoring/prometheus/prometheus.yml');
    expect(config.global).toEqual({ scrape_interval: '1s', evaluation_interval: '2s' });
    expect(config.alerting).toBeUndefined();
    const rules = yaml(tree, 'monitoring/prometheus/rules/conveyor.rules.yml').groups[0].rules;
    expect(rules[0]).toMatchObject({ alert: 'ConveyorTargetDown', for: '0s' });
    expect(rules[1].expr).toMatch(/ > 0\.2$/);
    expect(rules[2].expr).toMatch(/ > 0\.25$/);
  });

  it('remembers its options in nx.json and reuses them when run again (as app --monitoring does)', async () => {
    await gen(tree, { scrapeInterval: '30s', errorRatio: 0.1, environments: ['staging'] });
    expect(readNxJson(tree)?.generators?.['@conveyor/plugin:monitoring']).toEqual({
      scrapeInterval: '30s',
      errorRatio: 0.1,
      environments: ['staging'],
    });
    await monitoringGenerator(tree, { skipFormat: true }, ENV);
    expect(yaml(tree, 'monitoring/prometheus/prometheus.yml').global.scrape_interval).toBe('30s');
    expect(lists(tree, 'monitoring/prometheus/targets')).toEqual([
      'shop-api.staging.yml',
      'shop.staging.yml',
    ]);
    // An option given again wins.
    await gen(tree, { scrapeInterval: '5s' });
    expect(yaml(tree, 'monitoring/prometheus/prometheus.yml').global.scrape_interval).toBe('5s');
    expect(readNxJson(tree)?.generators?.['@conveyor/plugin:monitoring']).toMatchObject({
      scrapeInterval: '5s',
      errorRatio: 0.1,
    });
  });

  it('keeps an Alertmanager config the user changed', async () => {
    tree.write('monitoring/alertmanager/alertmanager.yml', 'route: {receiver: mine}\n');
    await gen(tree);
    expect(read(tree, 'monitoring/alertmanager/alertmanager.yml')).toBe(
      'route: {receiver: mine}\n',
    );
  });

  it.each([
    [{ scrapeInterval: '15' }, '--scrapeInterval must be a Prometheus duration'],
    [{ errorRatio: 2 }, '--errorRatio must be a number above 0 and at most 1'],
    [{ latencyP99: 0 }, '--latencyP99 must be a number above 0'],
    [{ alertmanager: 'http://am' }, '--alertmanager must be host:port'],
    [{ directory: '../out' }, '--directory must be a relative folder'],
    [{ environments: ['bad name'] }, '--environments: "bad name" is not a profile name'],
    [{ deploy: true, project: 'Bad' }, '--project: App name "Bad" is not valid'],
    [{ deploy: true, project: 'shop' }, 'A project named "shop" already exists'],
    [{ deploy: true, prometheusPort: 9093 }, 'must differ'],
  ])('refuses %o before writing anything', async (options, message) => {
    await expect(gen(tree, options as MonitoringGeneratorSchema)).rejects.toThrow(message);
    expect(tree.exists('monitoring')).toBe(false);
  });

  it('refuses a workspace without apps', async () => {
    const empty = createTreeWithEmptyWorkspace();
    await expect(gen(empty)).rejects.toThrow('No Conveyor app to monitor');
  });

  it('uses the metric names and labels the generated backend exposes', async () => {
    for (const [app, root] of [
      ['shop', 'apps/shop/backend'],
      ['shop-api', 'apps/shop-api/backend'],
    ]) {
      const source = read(tree, `${root}/src/metrics.ts`);
      expect(source).toContain(`buildInfo: '${buildInfoMetric(app)}'`);
      expect(source).toContain(`httpRequestDuration: '${HTTP_REQUEST_DURATION}'`);
      expect(source).toContain(`deployTimestamp: '${DEPLOY_TIMESTAMP}'`);
      const labels = (names: readonly string[]) =>
        `labelNames: [${names.map((n) => `'${n}'`).join(', ')}] as const`;
      expect(source).toContain(labels(BUILD_INFO_LABELS));
      expect(source).toContain(labels(HTTP_REQUEST_LABELS));
      expect(source).toContain(labels(DEPLOY_TIMESTAMP_LABELS));
    }
  });

  it('writes a dashboard that has the structure it claims', async () => {
    await gen(tree);
    const dashboard = JSON.parse(
      read(tree, 'monitoring/grafana/conveyor-dashboard.json'),
    ) as Dashboard;
    expect(dashboardProblems(dashboard)).toEqual([]);
    expect(JSON.stringify(dashboard)).toContain('shop_api_build_info');
  });

  describe('--deploy', () => {
    it('adds the stack and a project that builds, deploys and rolls it back', async () => {
      await gen(tree, { deploy: true, profile: 'staging', prometheusPort: 9190 });
      const project = readProjectConfiguration(tree, 'monitoring');
      expect(project.root).toBe('monitoring');
      expect(project.tags).toEqual(['conveyor', 'conveyor:monitoring']);
      expect(Object.keys(project.targets ?? {}).sort()).toEqual([
        'build-push',
        'deploy',
        'history',
        'rollback',
        'status',
      ]);
      expect(project.targets?.['build-push'].options).toEqual({
        profile: 'staging',
        images: [
          {
            component: 'backend',
            dockerfile: 'monitoring/Dockerfile',
            context: [{ from: 'monitoring/prometheus', to: 'prometheus' }],
          },
        ],
      });
      // The apps' release protocol, always recreate, ready when both services answer /-/ready.
      const deployOptions = {
        profile: 'staging',
        ansibleDir: 'monitoring/infra/ansible',
        composeFile: 'monitoring/docker-compose.yml',
        backendPort: 9190,
        strategy: 'recreate',
        healthPath: '/-/ready',
        versionCheck: false,
        readyChecks: [{ env: 'ALERTMANAGER_PORT', port: 9093, path: '/-/ready' }],
        composeEnv: [
          'ALERTMANAGER_PORT',
          'ALERTMANAGER_IMAGE',
          'BLACKBOX_IMAGE',
          'PROMETHEUS_RETENTION',
        ],
      };
      expect(project.targets?.['deploy']).toMatchObject({
        executor: '@conveyor/plugin:deploy',
        options: deployOptions,
      });
      // Rollback reads the stack's ports, paths, strategy and gate from deploy.
      expect(project.targets?.['rollback']).toMatchObject({
        executor: '@conveyor/plugin:rollback',
        options: { profile: 'staging' },
      });
      expect(project.targets?.['deploy'].options.frontendPort).toBeUndefined();
      expect(project.targets?.['rollback'].configurations).toHaveProperty('production', {
        profile: 'production',
      });
      for (const target of ['status', 'history']) {
        expect(project.targets?.[target]).toEqual({
          executor: `@conveyor/plugin:${target}`,
          options: { profile: 'staging' },
          configurations: project.targets?.['deploy'].configurations,
        });
      }

      const compose = yaml(tree, 'monitoring/docker-compose.yml');
      // Prometheus is the service `backend`: the helper checks the image it runs by that name.
      expect(Object.keys(compose.services).sort()).toEqual(['alertmanager', 'backend']);
      expect(compose.services.backend.image).toBe(
        '${REGISTRY_URL}/${REGISTRY_NS}/monitoring_backend:${IMAGE_TAG}',
      );
      expect(compose.services.backend.ports).toEqual(['${BACKEND_PORT:-9190}:9090']);
      expect(compose.services.alertmanager.ports).toEqual(['${ALERTMANAGER_PORT:-9093}:9093']);
      expect(compose.services.alertmanager.volumes).toContain(
        './alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro',
      );
      expect(read(tree, 'monitoring/Dockerfile')).toContain('FROM ${PROMETHEUS_IMAGE}');
      expect(read(tree, 'monitoring/infra/ansible/inventory/local')).toContain(
        'ansible_connection=local',
      );
      expect(read(tree, 'monitoring/infra/ansible/inventory/staging')).toContain(
        'ansible_host="{{ conveyor_ssh_host }}"',
      );
    });

    it('deploys through the host helper: no lock, state or rollout of its own', async () => {
      await gen(tree, { deploy: true });
      const text = read(tree, 'monitoring/infra/ansible/playbook.yml');
      const [play] = parse(text) as {
        hosts: string;
        tasks: { name: string; no_log?: boolean; [module: string]: unknown }[];
      }[];
      expect(play.hosts).toBe('monitoring');
      expect(play.tasks.map((t) => t.name)).toEqual([
        'Check that Telegram is configured (Alertmanager sends every alert there)',
        'Check that the plan replaces the stack in place (recreate)',
        'Create the state folder',
        'Install the release helper',
        'Upload the plan and the compose file',
        'Write the Alertmanager config, filled from the environment',
        'Carry out the plan',
        "Hand the helper's report to the executor",
        'Fail when the release failed',
      ]);
      const task = (name: string) => play.tasks.find((t) => t.name.startsWith(name));
      const config = task('Write the Alertmanager config');
      expect(config?.no_log).toBe(true);
      expect(config?.['ansible.builtin.copy']).toMatchObject({
        dest: '{{ conveyor_app_path }}/alertmanager.yml',
        mode: '0600',
      });
      expect((config?.['ansible.builtin.copy'] as { content: string }).content).toContain(
        "replace('${TELEGRAM_TOKEN}', lookup('env', 'TELEGRAM_TOKEN'))",
      );
      expect(task('Carry out the plan')?.['ansible.builtin.command']).toMatchObject({
        argv: [
          '{{ host_python }}',
          '{{ state_dir }}/conveyor-host.pyz',
          'release',
          '{{ conveyor_host_plan }}',
        ],
      });
      // Only the variables the deploy executor passes now; the old protocol's are gone.
      const used = new Set(text.match(/conveyor_[a-z_]+/g));
      expect([...used].sort()).toEqual([
        'conveyor_app_path',
        'conveyor_compose_src',
        'conveyor_host_compose',
        'conveyor_host_helper',
        'conveyor_host_plan',
        'conveyor_hosts',
        'conveyor_plan_file',
        'conveyor_result_file',
        'conveyor_run',
      ]);
      expect(text).not.toMatch(/releases\.log|\/lock|mkdir/);
      expect(tree.exists('monitoring/infra/ansible/tasks/rollout.yml')).toBe(false);
    });

    it('removes the rollout tasks an earlier version wrote', async () => {
      tree.write('monitoring/infra/ansible/tasks/rollout.yml', '---\n- name: old\n');
      await gen(tree, { deploy: true });
      expect(tree.exists('monitoring/infra/ansible/tasks/rollout.yml')).toBe(false);
    });

    it('does not monitor itself, and keeps its inventories when run again', async () => {
      await gen(tree, { deploy: true });
      tree.write(
        'monitoring/infra/ansible/inventory/production',
        '[monitoring]\nm1 ansible_host=10.9.9.9\n',
      );
      await gen(tree, { deploy: true });
      expect(read(tree, 'monitoring/infra/ansible/inventory/production')).toContain('10.9.9.9');
      const jobs = yaml(tree, 'monitoring/prometheus/prometheus.yml').scrape_configs.map(
        (j: { job_name: string }) => j.job_name,
      );
      expect(jobs).toEqual(['shop', 'shop-colors', 'shop-api', 'shop-api-colors']);
    });
  });

  describe("the certificates of the apps' domains", () => {
    const withDomain = { ...ENV, STAGING_DOMAIN: 'staging.shop.example.com' };

    it('adds a blackbox probe of each domain, the expiry alert and the exporter, only when a profile sets a domain', async () => {
      await gen(tree, { deploy: true });
      expect(read(tree, 'monitoring/prometheus/prometheus.yml')).not.toContain(TLS_JOB);
      expect(read(tree, 'monitoring/docker-compose.yml')).not.toContain('blackbox');

      await gen(tree, { deploy: true }, withDomain);
      const job = yaml(tree, 'monitoring/prometheus/prometheus.yml').scrape_configs.find(
        (j: { job_name: string }) => j.job_name === TLS_JOB,
      );
      expect(job.static_configs).toEqual([
        {
          targets: ['https://staging.shop.example.com/'],
          labels: { app: 'shop', env: 'staging', domain: 'staging.shop.example.com' },
        },
        {
          targets: ['https://staging.shop.example.com/'],
          labels: { app: 'shop-api', env: 'staging', domain: 'staging.shop.example.com' },
        },
      ]);
      expect(read(tree, 'monitoring/docker-compose.yml')).toContain(
        'image: ${BLACKBOX_IMAGE:-prom/blackbox-exporter:v0.25.0}',
      );
    });

    it("takes an app's own domain from its deploy target's configuration over the profile's", async () => {
      const shop = readProjectConfiguration(tree, 'shop');
      const deploy = shop.targets?.['deploy'];
      if (!deploy?.configurations) throw new Error('shop has no deploy configurations');
      deploy.configurations['staging'] = {
        ...deploy.configurations['staging'],
        domain: 'Shop.Example.com',
      };
      updateProjectConfiguration(tree, 'shop', shop);
      await gen(tree);
      const job = yaml(tree, 'monitoring/prometheus/prometheus.yml').scrape_configs.find(
        (j: { job_name: string }) => j.job_name === TLS_JOB,
      );
      expect(job.static_configs).toEqual([
        {
          targets: ['https://shop.example.com/'],
          labels: { app: 'shop', env: 'staging', domain: 'shop.example.com' },
        },
      ]);
    });

    it('promtool: the config is valid, and the alert fires for a certificate 10 days from its end, not 30', async () => {
      await gen(tree, {}, withDomain);
      const dir = materialize(tree, 'monitoring');
      try {
        const config = tool('promtool', ['check', 'config', 'prometheus/prometheus.yml'], dir);
        expect(config).toMatchObject({ code: 0 });
        const day = 86400;
        writeFileSync(
          join(dir, 'certificates.test.yml'),
          stringify({
            rule_files: ['prometheus/rules/conveyor.rules.yml'],
            evaluation_interval: '1m',
            tests: [
              {
                interval: '1m',
                input_series: [
                  {
                    series: `probe_ssl_earliest_cert_expiry{job="${TLS_JOB}",app="shop",env="staging",domain="a.example.com"}`,
                    values: `${10 * day}x120`,
                  },
                  {
                    series: `probe_ssl_earliest_cert_expiry{job="${TLS_JOB}",app="shop",env="production",domain="b.example.com"}`,
                    values: `${30 * day}x120`,
                  },
                ],
                alert_rule_test: [
                  {
                    eval_time: '90m',
                    alertname: CERTIFICATE_ALERT,
                    exp_alerts: [
                      {
                        exp_labels: {
                          severity: 'warning',
                          job: TLS_JOB,
                          app: 'shop',
                          env: 'staging',
                          domain: 'a.example.com',
                        },
                        exp_annotations: {
                          summary: 'The certificate of a.example.com expires soon',
                          description:
                            "The certificate a.example.com presents (shop on staging) expires in 9d 22h 30m 0s: the edge renews with a third of its life left, so it could not renew it (see the edge's log on the host).",
                        },
                      },
                    ],
                  },
                ],
              },
            ],
          }),
        );
        const r = tool('promtool', ['test', 'rules', 'certificates.test.yml'], dir);
        expect(r.output).toContain('SUCCESS');
        expect(r).toMatchObject({ code: 0 });
      } finally {
        rmSync(join(dir, '..'), { recursive: true, force: true });
      }
    });
  });

  describe('checked by the real tools', () => {
    let dir: string;
    beforeEach(async () => {
      await gen(tree);
      dir = materialize(tree, 'monitoring');
    });
    afterEach(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

    it('promtool check config passes', () => {
      const r = tool('promtool', ['check', 'config', 'prometheus/prometheus.yml'], dir);
      expect(r).toMatchObject({ code: 0 });
      expect(r.output).toContain('SUCCESS');
    });

    it('promtool check rules passes', () => {
      const r = tool('promtool', ['check', 'rules', 'prometheus/rules/conveyor.rules.yml'], dir);
      expect(r).toMatchObject({ code: 0 });
      expect(r.output).toContain('SUCCESS: 8 rules found');
    });

    it("the dashboard's queries are valid PromQL (promtool check rules)", () => {
      const dashboard = JSON.parse(
        read(tree, 'monitoring/grafana/conveyor-dashboard.json'),
      ) as Dashboard;
      const rules = dashboardExpressions(dashboard).map((expr, i) => ({
        record: `dashboard:query_${i}`,
        expr,
      }));
      writeFileSync(
        join(dir, 'dashboard-queries.yml'),
        stringify({ groups: [{ name: 'q', rules }] }),
      );
      const r = tool('promtool', ['check', 'rules', 'dashboard-queries.yml'], dir);
      expect(r).toMatchObject({ code: 0 });
      expect(r.output).toContain(`SUCCESS: ${rules.length} rules found`);
    });

    it('amtool check-config passes on the Alertmanager config filled from the environment', () => {
      const text = renderAlertmanagerConfig(
        read(tree, 'monitoring/alertmanager/alertmanager.yml'),
        {
          TELEGRAM_TOKEN: '123456:ABC-def_ghi',
          TELEGRAM_CHAT_ID: '-100123',
        },
      );
      writeFileSync(join(dir, 'alertmanager/rendered.yml'), text);
      const r = tool('amtool', ['check-config', 'alertmanager/rendered.yml'], dir);
      expect(r).toMatchObject({ code: 0 });
      expect(r.output).toContain('SUCCESS');
      expect(r.output).toContain('1 receivers');
    });
  });
});
