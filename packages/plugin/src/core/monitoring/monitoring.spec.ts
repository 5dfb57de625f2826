import { parse } from 'yaml';
import { buildInfoMetric, metricPrefix, METRIC_NAME } from './metrics';
import { COLOR_TARGET_LABELS, colorJob } from './colors';
import {
  ALERTS,
  alertmanagerConfig,
  alertRules,
  appAlertRules,
  colorTargetFile,
  dashboardExpressions,
  dashboardProblems,
  DEFAULT_THRESHOLDS,
  environmentTargets,
  grafanaDashboard,
  hostAddress,
  isDuration,
  MissingVariableError,
  parseInventory,
  prometheusConfig,
  renderAlertmanagerConfig,
  targetFile,
  type Dashboard,
} from './monitoring';

describe('metric names', () => {
  it.each([
    ['shop', 'shop_build_info'],
    ['shop-api', 'shop_api_build_info'],
    ['a1-b2-c3', 'a1_b2_c3_build_info'],
  ])('%s -> %s', (app, metric) => {
    expect(buildInfoMetric(app)).toBe(metric);
    expect(metric).toMatch(METRIC_NAME);
    expect(metricPrefix(app)).toBe(metric.replace(/_build_info$/, ''));
  });
});

describe('isDuration', () => {
  it.each(['1s', '15s', '1m', '1h30m', '500ms', '0s', '2d'])('%s is a duration', (d) => {
    expect(isDuration(d)).toBe(true);
  });
  it.each(['', '1', 'm', '1 m', '-1m', '1.5m', 'soon'])('%s is not', (d) => {
    expect(isDuration(d)).toBe(false);
  });
});

describe('parseInventory', () => {
  const text = [
    '# comment',
    '[app]',
    'staging-1 ansible_host="{{ conveyor_ssh_host }}" ansible_user="{{ conveyor_ssh_user }}"',
    "staging-2 ansible_host='10.0.0.6' ansible_port=2200",
    'staging-3',
    '',
    '[app:vars]',
    'foo=bar',
    '[db]',
    'db-1 ansible_host=10.0.0.9',
  ].join('\n');

  it('lists the hosts of the [app] group with their variables', () => {
    expect(parseInventory(text)).toEqual([
      {
        name: 'staging-1',
        vars: { ansible_host: '{{ conveyor_ssh_host }}', ansible_user: '{{ conveyor_ssh_user }}' },
      },
      { name: 'staging-2', vars: { ansible_host: '10.0.0.6', ansible_port: '2200' } },
      { name: 'staging-3', vars: {} },
    ]);
  });

  it('reads the local inventory the app generator writes', () => {
    const local =
      '[app]\nlocal-1 ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"\n';
    expect(parseInventory(local)).toEqual([
      {
        name: 'local-1',
        vars: {
          ansible_connection: 'local',
          ansible_python_interpreter: '{{ ansible_playbook_python }}',
        },
      },
    ]);
  });
});

describe('hostAddress', () => {
  const profile = { value: 'staging.example.com' };
  it('takes the profile ssh_host when the inventory does', () => {
    expect(
      hostAddress({ name: 'h', vars: { ansible_host: '{{conveyor_ssh_host}}' } }, profile),
    ).toBe(profile);
    expect(
      hostAddress(
        { name: 'h', vars: { ansible_host: '{{ conveyor_ssh_host }}' } },
        { variable: 'STAGING_SSH_HOST' },
      ),
    ).toEqual({ variable: 'STAGING_SSH_HOST' });
  });
  it('keeps a literal ansible_host, else the host name', () => {
    expect(hostAddress({ name: 'h', vars: { ansible_host: '10.1.2.3' } }, profile)).toEqual({
      value: '10.1.2.3',
    });
    expect(hostAddress({ name: 'web-7.internal', vars: {} }, profile)).toEqual({
      value: 'web-7.internal',
    });
  });
  it('uses the profile host (or localhost) for a local connection', () => {
    const local = { name: 'local-1', vars: { ansible_connection: 'local' } };
    expect(hostAddress(local, { value: 'localhost' })).toEqual({ value: 'localhost' });
    expect(hostAddress(local, { variable: 'X' })).toEqual({ value: 'localhost' });
  });
  it('cannot resolve other templated hosts', () => {
    expect(hostAddress({ name: 'h', vars: { ansible_host: '{{ other }}' } }, profile)).toEqual({
      variable: "h's ansible_host",
    });
  });
});

describe('target files', () => {
  const inventory = {
    file: 'apps/shop/infra/ansible/inventory/staging',
    text: '[app]\nstaging-1 ansible_host="{{ conveyor_ssh_host }}"\nstaging-2 ansible_host=10.0.0.6\n',
  };

  it('lists host:backendPort for every host, labelled app and env', () => {
    const t = environmentTargets({
      app: 'shop',
      env: 'staging',
      port: 8080,
      profileHost: { value: '10.0.0.5' },
      inventory,
      profileFile: 'config/profiles/staging.yml',
    });
    expect(t.targets).toEqual(['10.0.0.5:8080', '10.0.0.6:8080']);
    expect(t.unresolved).toEqual([]);
    const text = targetFile(t);
    expect(parse(text)).toEqual([
      { targets: ['10.0.0.5:8080', '10.0.0.6:8080'], labels: { app: 'shop', env: 'staging' } },
    ]);
    expect(text).toContain('# shop on staging');
    expect(text).toContain('apps/shop/infra/ansible/inventory/staging');
  });

  it('scrapes a host that publishes the backend on its own port (conveyor_backend_port) on that port', () => {
    const t = environmentTargets({
      app: 'shop',
      env: 'staging',
      port: 8080,
      profileHost: { value: '10.0.0.5' },
      inventory: {
        file: 'apps/shop/infra/ansible/inventory/staging',
        text: '[app]\nstaging-1 ansible_host=10.0.0.5\nstaging-2 ansible_host=10.0.0.6 conveyor_backend_port=9090\n',
      },
      profileFile: 'config/profiles/staging.yml',
    });
    expect(t.targets).toEqual(['10.0.0.5:8080', '10.0.0.6:9090']);
  });

  it('leaves out a host whose variable is not set, and says which', () => {
    const t = environmentTargets({
      app: 'shop',
      env: 'staging',
      port: 8080,
      profileHost: { variable: 'STAGING_SSH_HOST' },
      inventory,
      profileFile: 'config/profiles/staging.yml',
    });
    expect(t.targets).toEqual(['10.0.0.6:8080']);
    expect(t.unresolved).toEqual([{ host: 'staging-1', variable: 'STAGING_SSH_HOST' }]);
    expect(targetFile(t)).toContain('STAGING_SSH_HOST was not set');
  });

  it('writes an empty list when no host resolves', () => {
    const t = environmentTargets({
      app: 'shop',
      env: 'production',
      port: 8080,
      profileHost: { variable: 'PRODUCTION_SSH_HOST' },
      profileFile: 'config/profiles/production.yml',
    });
    expect(t.targets).toEqual([]);
    expect(parse(targetFile(t))).toEqual([]);
  });
});

describe('colour target files', () => {
  const t = environmentTargets({
    app: 'shop',
    env: 'staging',
    port: 8080,
    profileHost: { value: '10.0.0.5' },
    inventory: {
      file: 'apps/shop/infra/ansible/inventory/staging',
      text: '[app]\nstaging-1 ansible_host="{{ conveyor_ssh_host }}"\nstaging-2 ansible_host=10.0.0.6 conveyor_backend_port=9090\n',
    },
    profileFile: 'config/profiles/staging.yml',
  });

  it('keeps every resolved host with its address and its own backend port', () => {
    expect(t.hosts).toEqual([
      { host: 'staging-1', address: '10.0.0.5', backendPort: 8080 },
      { host: 'staging-2', address: '10.0.0.6', backendPort: 9090 },
    ]);
  });

  it("lists each host's blue and green port (from its own backend port), labelled app, env, host, color", () => {
    const labels = (host: string, color: string) => ({ app: 'shop', env: 'staging', host, color });
    const groups = parse(colorTargetFile(t));
    expect(groups).toEqual([
      { targets: ['10.0.0.5:18080'], labels: labels('staging-1', 'blue') },
      { targets: ['10.0.0.5:28080'], labels: labels('staging-1', 'green') },
      { targets: ['10.0.0.6:19090'], labels: labels('staging-2', 'blue') },
      { targets: ['10.0.0.6:29090'], labels: labels('staging-2', 'green') },
    ]);
    for (const g of groups) expect(Object.keys(g.labels)).toEqual([...COLOR_TARGET_LABELS]);
  });

  it('says what the file is: loopback ports, down when not running, no alerts', () => {
    const text = colorTargetFile(t);
    expect(text).toContain(`job ${colorJob('shop')}`);
    expect(text).toContain('loopback ports of the host');
    expect(text).toContain('simply down here');
    expect(text).toContain('no alert rules');
  });

  it('leaves out a host whose variable is not set, and says which', () => {
    const partial = environmentTargets({
      app: 'shop',
      env: 'staging',
      port: 8080,
      profileHost: { variable: 'STAGING_SSH_HOST' },
      inventory: {
        file: 'apps/shop/infra/ansible/inventory/staging',
        text: '[app]\nstaging-1 ansible_host="{{ conveyor_ssh_host }}"\nstaging-2 ansible_host=10.0.0.6\n',
      },
      profileFile: 'config/profiles/staging.yml',
    });
    const text = colorTargetFile(partial);
    expect(parse(text).map((g: { labels: { host: string } }) => g.labels.host)).toEqual([
      'staging-2',
      'staging-2',
    ]);
    expect(text).toContain('Host staging-1 is left out: STAGING_SSH_HOST was not set');
    const none = environmentTargets({
      app: 'shop',
      env: 'production',
      port: 8080,
      profileHost: { variable: 'PRODUCTION_SSH_HOST' },
      profileFile: 'config/profiles/production.yml',
    });
    expect(parse(colorTargetFile(none))).toEqual([]);
  });
});

describe('prometheusConfig', () => {
  it('has one job per app and one for its colours, reading their file_sd targets, asking for the Prometheus format', () => {
    const doc = parse(
      prometheusConfig({
        apps: ['shop', 'shop-api'],
        scrapeInterval: '10s',
        evaluationInterval: '20s',
        alertmanager: 'alertmanager:9093',
      }),
    );
    expect(doc.global).toEqual({ scrape_interval: '10s', evaluation_interval: '20s' });
    expect(doc.rule_files).toEqual(['rules/*.yml']);
    expect(doc.alerting.alertmanagers[0].static_configs[0].targets).toEqual(['alertmanager:9093']);
    expect(doc.scrape_configs).toEqual([
      {
        job_name: 'shop',
        metrics_path: '/metrics',
        params: { format: ['prometheus'] },
        file_sd_configs: [{ files: ['targets/shop.*.yml'], refresh_interval: '1m' }],
      },
      {
        job_name: 'shop-colors',
        metrics_path: '/metrics',
        params: { format: ['prometheus'] },
        file_sd_configs: [{ files: ['targets/colors/shop.*.yml'], refresh_interval: '1m' }],
      },
      {
        job_name: 'shop-api',
        metrics_path: '/metrics',
        params: { format: ['prometheus'] },
        file_sd_configs: [{ files: ['targets/shop-api.*.yml'], refresh_interval: '1m' }],
      },
      {
        job_name: 'shop-api-colors',
        metrics_path: '/metrics',
        params: { format: ['prometheus'] },
        file_sd_configs: [{ files: ['targets/colors/shop-api.*.yml'], refresh_interval: '1m' }],
      },
    ]);
  });

  it('has no alerting section without an Alertmanager', () => {
    const doc = parse(
      prometheusConfig({
        apps: ['shop'],
        scrapeInterval: '15s',
        evaluationInterval: '15s',
        alertmanager: '',
      }),
    );
    expect(doc.alerting).toBeUndefined();
  });
});

describe('alert rules', () => {
  it('watches each app: down, 5xx ratio, p99 latency, version mismatch', () => {
    const rules = appAlertRules('shop-api', {
      ...DEFAULT_THRESHOLDS,
      errorRatio: 0.1,
      latencyP99: 0.5,
      targetDownFor: '30s',
    });
    expect(rules.map((r) => r.alert)).toEqual([
      ALERTS.targetDown,
      ALERTS.errorRatio,
      ALERTS.latencyP99,
      ALERTS.versionMismatch,
    ]);
    const [down, errors, latency, mismatch] = rules;
    expect(down.expr).toBe('up{job="shop-api"} == 0');
    expect(down.for).toBe('30s');
    expect(errors.expr).toContain(
      'http_request_duration_seconds_count{job="shop-api",status=~"5.."}',
    );
    expect(errors.expr).toMatch(/ > 0\.1$/);
    expect(latency.expr).toContain('histogram_quantile(0.99');
    expect(latency.expr).toContain('http_request_duration_seconds_bucket{job="shop-api"}');
    expect(latency.expr).toMatch(/ > 0\.5$/);
    expect(mismatch.expr).toBe(
      'count by (app, env) (count by (app, env, git_sha) (shop_api_build_info{job="shop-api"})) > 1',
    );
    for (const r of rules) expect(r.labels.app).toBe('shop-api');
  });

  it("selects only the app's own job in every series, never its colours", () => {
    const apps = ['shop', 'shop-api'];
    const doc = parse(alertRules(apps, DEFAULT_THRESHOLDS));
    for (const [i, app] of apps.entries()) {
      for (const rule of doc.groups[i].rules as { expr: string }[]) {
        const selectors = rule.expr.match(/\{[^}]*\}/g) ?? [];
        expect(selectors.length).toBeGreaterThan(0);
        for (const selector of selectors) {
          // One job matcher per selector, an exact match on the app (no regex that could widen it).
          expect(selector.match(/\bjob\s*(=~|!=|!~|=)\s*"[^"]*"/g)).toEqual([`job="${app}"`]);
        }
        expect(rule.expr).not.toContain(colorJob(app));
      }
    }
  });

  it('puts each app in its own group', () => {
    const doc = parse(alertRules(['a', 'b'], DEFAULT_THRESHOLDS));
    expect(doc.groups.map((g: { name: string }) => g.name)).toEqual(['conveyor-a', 'conveyor-b']);
  });
});

describe('Alertmanager config', () => {
  it('routes everything to Telegram with the deploy notices variables', () => {
    const doc = parse(alertmanagerConfig());
    expect(doc.route.receiver).toBe('telegram');
    expect(doc.route.group_by).toEqual(['alertname', 'app', 'env']);
    expect(doc.receivers).toEqual([
      {
        name: 'telegram',
        telegram_configs: [
          {
            bot_token: '${TELEGRAM_TOKEN}',
            chat_id: '${TELEGRAM_CHAT_ID}',
            api_url: '${TELEGRAM_API_URL:-https://api.telegram.org}',
            send_resolved: true,
          },
        ],
      },
    ]);
  });

  it('is filled from the environment', () => {
    const text = renderAlertmanagerConfig(alertmanagerConfig(), {
      TELEGRAM_TOKEN: '123:abc',
      TELEGRAM_CHAT_ID: '-10042',
    });
    const telegram = parse(text).receivers[0].telegram_configs[0];
    expect(telegram).toEqual({
      bot_token: '123:abc',
      chat_id: -10042,
      api_url: 'https://api.telegram.org',
      send_resolved: true,
    });
    const custom = renderAlertmanagerConfig(alertmanagerConfig(), {
      TELEGRAM_TOKEN: '1:a',
      TELEGRAM_CHAT_ID: '5',
      TELEGRAM_API_URL: 'http://127.0.0.1:8081',
    });
    expect(parse(custom).receivers[0].telegram_configs[0].api_url).toBe('http://127.0.0.1:8081');
  });

  it('names a missing variable', () => {
    expect(() => renderAlertmanagerConfig(alertmanagerConfig(), { TELEGRAM_TOKEN: 'x' })).toThrow(
      new MissingVariableError(
        'The Alertmanager config needs environment variable TELEGRAM_CHAT_ID, which is not set.',
      ),
    );
  });
});

describe('Grafana dashboard', () => {
  const dashboard = grafanaDashboard({
    apps: ['shop', 'shop-api'],
    errorRatio: 0.05,
    latencyP99: 1,
  });

  it('has the structure it claims', () => {
    expect(dashboardProblems(dashboard)).toEqual([]);
    expect(dashboard.panels.map((p) => p.title)).toEqual([
      'Request rate',
      'Error ratio (5xx)',
      'Latency quantiles',
      'Targets up',
      'Live version per environment',
    ]);
    expect(dashboard.templating.list.map((v) => [v.name, v.type])).toEqual([
      ['datasource', 'datasource'],
      ['app', 'query'],
      ['env', 'query'],
    ]);
    // A JSON round trip (what is written) keeps it valid.
    expect(dashboardProblems(JSON.parse(JSON.stringify(dashboard)))).toEqual([]);
  });

  it('shows the quantiles, the live version of every app and the deploys', () => {
    const latency = dashboard.panels.find((p) => p.title === 'Latency quantiles');
    expect(latency?.targets.map((t) => t.refId)).toEqual(['p50', 'p90', 'p99']);
    const live = dashboard.panels.find((p) => p.title === 'Live version per environment');
    expect(live?.targets[0].expr).toContain('__name__=~"shop_build_info|shop_api_build_info"');
    expect(live?.targets[0].expr).toContain('git_sha');
    const deploys = dashboard.annotations.list.find((a) => a['name'] === 'Deploys');
    expect(deploys).toMatchObject({
      useValueForTime: true,
      datasource: { type: 'prometheus', uid: '${datasource}' },
    });
    expect(deploys?.['expr']).toContain('conveyor_deploy_timestamp_seconds');
  });

  it('finds what is wrong with a broken dashboard', () => {
    const broken = JSON.parse(JSON.stringify(dashboard)) as Dashboard;
    broken.templating.list = broken.templating.list.filter((v) => v.name !== 'env');
    broken.panels[0].datasource = { type: 'prometheus', uid: 'abc' } as never;
    broken.panels[1].targets.push({ ...broken.panels[1].targets[0] });
    broken.panels[2].gridPos = { h: 8, w: 20, x: 12, y: 0 };
    const problems = dashboardProblems(broken);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('uses undefined variable $env'),
        expect.stringContaining('panel 1 "Request rate": datasource must be'),
        expect.stringContaining('panel 2 "Error ratio (5xx)": refIds must be unique'),
        expect.stringContaining('panel 3 "Latency quantiles": gridPos'),
      ]),
    );
  });

  it("reads the apps' own jobs only, not their colours (the same backends scraped again)", () => {
    const exprs = dashboardExpressions(dashboard);
    for (const e of exprs) {
      const selectors = e.match(/\{[^}]*\}/g) ?? [];
      expect(selectors.length).toBeGreaterThan(0);
      for (const selector of selectors) expect(selector).toContain('job=~"shop|shop-api"');
      expect(e).not.toContain(colorJob('shop'));
    }
  });

  it('gives promtool-checkable expressions', () => {
    const exprs = dashboardExpressions(dashboard);
    expect(exprs.length).toBeGreaterThan(5);
    for (const e of exprs) expect(e).not.toMatch(/\$/);
  });
});
