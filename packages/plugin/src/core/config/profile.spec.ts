import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interpolate, loadProfile, parseProfile, ProfileError } from './profile';

const STAGING = `registry: \${REGISTRY_URL}
registry_namespace: \${REGISTRY_NS:-acme}
ssh_host: \${STAGING_SSH_HOST}
ssh_user: \${STAGING_SSH_USER:-deploy}
ssh_port: \${STAGING_SSH_PORT:-22}
deploy_path: \${STAGING_DEPLOY_PATH:-/opt/conveyor}
compose_command: \${STAGING_COMPOSE_COMMAND:-docker compose}
`;

const env = { REGISTRY_URL: 'reg.example.com', STAGING_SSH_HOST: 'staging.example.com' };

describe('interpolate', () => {
  it('replaces set variables and uses defaults for unset or empty ones', () => {
    expect(interpolate('${A}/${B:-x}/${C:-y}', { A: '1', C: '' })).toEqual({ value: '1/x/y' });
  });
  it('reports the first missing variable', () => {
    expect(interpolate('a${MISSING}b${ALSO}', {})).toEqual({ variable: 'MISSING' });
  });
  it('keeps $$ as a literal dollar', () => {
    expect(interpolate('p$$w${A}', { A: 'x' })).toEqual({ value: 'p$wx' });
  });
  it('flags malformed references', () => {
    expect(interpolate('${1BAD}', {})).toEqual({ invalid: '${1BAD}' });
    expect(interpolate('${OPEN', {})).toEqual({ invalid: '${OPEN' });
  });
});

describe('parseProfile', () => {
  it('interpolates every key and applies typed defaults', () => {
    const p = parseProfile('staging', 'config/profiles/staging.yml', STAGING, env);
    expect(p).toEqual({
      name: 'staging',
      file: 'config/profiles/staging.yml',
      registry: 'reg.example.com',
      registry_namespace: 'acme',
      connection: 'ssh',
      ssh_host: 'staging.example.com',
      ssh_user: 'deploy',
      ssh_port: 22,
      deploy_path: '/opt/conveyor',
      compose_command: 'docker compose',
      strategy: 'recreate',
      drain_seconds: 30,
      database: 'service',
      database_image: 'postgres:17',
      database_backups_keep: 7,
      proxy_image: 'haproxy:2.8-alpine',
      rollout_batches: '100%',
      rollout_wait: 0,
      canary_steps: [10, 50, 100],
      canary_pause: 30,
      canary_max_error_ratio: 0.05,
      canary_max_p99: 1,
      canary_window: 60,
      tls: 'off',
      acme_email: '',
      acme_ca: 'https://acme-v02.api.letsencrypt.org/directory',
      edge_path: '/opt/conveyor/conveyor-edge',
      edge_image: 'caddy:2',
      edge_http_port: 80,
      edge_https_port: 443,
      preview_ttl: 604800,
      edge_name: 'conveyor-edge',
      acme_renewal_window: 0.33,
      preview_ports: { first: 30000, last: 30999 },
    });
  });

  describe('the edge keys', () => {
    const parse = (extra: string) => parseProfile('s', 's.yml', `${STAGING}${extra}`, env);
    it('a domain turns the edge on with ACME; tls: off keeps raw ports', () => {
      expect(parse('domain: Shop.Example.com\n')).toMatchObject({
        domain: 'shop.example.com',
        tls: 'acme',
      });
      expect(parse('domain: shop.example.com\ntls: off\n').tls).toBe('off');
      expect(parse('domain: shop.example.com\ntls: custom\n').tls).toBe('custom');
    });
    it('refuses a domain that is no host name, an unknown tls, tls without a domain, a bad port', () => {
      expect(() => parse('domain: https://shop.example.com\n')).toThrow(
        's.yml: key "domain" must be a host name such as shop.example.com, got "https://shop.example.com".',
      );
      expect(() => parse('domain: a.example.com\ntls: yes\n')).toThrow(
        's.yml: key "tls" must be "acme", "custom", "off", got "yes".',
      );
      expect(() => parse('tls: acme\n')).toThrow(
        's.yml: key "tls" is "acme" but no "domain" is set.',
      );
      expect(() => parse('domain: a.example.com\nacme_ca: http://ca.example\n')).toThrow(
        'key "acme_ca" must be the https address of an ACME directory',
      );
      expect(() => parse('edge_https_port: 70000\n')).toThrow('key "edge_https_port"');
    });
    it('keeps one edge per host under the deploy path unless edge_path says otherwise', () => {
      expect(parse('edge_path: /srv/edge\n').edge_path).toBe('/srv/edge');
    });
  });

  it('reads the deploy strategy and rejects unknown ones', () => {
    const text = `${STAGING}strategy: \${STAGING_DEPLOY_STRATEGY:-blue-green}\ndrain_seconds: 2\n`;
    expect(parseProfile('s', 's.yml', text, env)).toMatchObject({
      strategy: 'blue-green',
      drain_seconds: 2,
    });
    expect(
      parseProfile('s', 's.yml', text, { ...env, STAGING_DEPLOY_STRATEGY: 'recreate' }).strategy,
    ).toBe('recreate');
    expect(() =>
      parseProfile('s', 's.yml', text, { ...env, STAGING_DEPLOY_STRATEGY: 'rolling' }),
    ).toThrow(
      's.yml: key "strategy" must be "recreate" or "blue-green" or "canary", got "rolling".',
    );
    expect(() => parseProfile('s', 's.yml', `${STAGING}canary_steps: 50, 10\n`, env)).toThrow(
      'key "canary_steps" must list rising percentages from 1 to 100',
    );
    expect(parseProfile('s', 's.yml', `${STAGING}canary_steps: 5, 25\n`, env).canary_steps).toEqual(
      [5, 25, 100],
    );
    expect(() => parseProfile('s', 's.yml', `${STAGING}drain_seconds: soon\n`, env)).toThrow(
      /key "drain_seconds" must be a number/,
    );
  });

  it('reads where the canary is judged: a Prometheus address and a window, or its own counters', () => {
    const own = parseProfile('s', 's.yml', STAGING, env);
    expect(own.canary_prometheus).toBeUndefined();
    expect(own.canary_window).toBe(60);
    const text = `${STAGING}canary_prometheus: \${PROM_URL}\ncanary_window: 10\n`;
    expect(
      parseProfile('s', 's.yml', text, { ...env, PROM_URL: 'http://127.0.0.1:9090/' }),
    ).toMatchObject({ canary_prometheus: 'http://127.0.0.1:9090', canary_window: 10 });
    expect(() => parseProfile('s', 's.yml', text, { ...env, PROM_URL: '127.0.0.1:9090' })).toThrow(
      's.yml: key "canary_prometheus" must be the http(s) address of a Prometheus, e.g. "http://127.0.0.1:9090", got "127.0.0.1:9090".',
    );
    expect(() => parseProfile('s', 's.yml', `${STAGING}canary_window: 0\n`, env)).toThrow(
      's.yml: key "canary_window" must be at least 1 second, got "0".',
    );
  });

  it('names the file, the key and the variable when a variable is missing', () => {
    expect(() =>
      parseProfile('staging', 'config/profiles/staging.yml', STAGING, { REGISTRY_URL: 'r' }),
    ).toThrow(
      'config/profiles/staging.yml: key "ssh_host" needs environment variable STAGING_SSH_HOST, which is not set.',
    );
  });

  it('only requires the keys asked for', () => {
    const p = parseProfile(
      'staging',
      'f.yml',
      STAGING,
      { REGISTRY_URL: 'r' },
      { require: ['registry', 'registry_namespace'] },
    );
    expect(p.registry).toBe('r');
    expect(p.ssh_host).toBe('');
  });

  it('rejects malformed YAML with the file name', () => {
    expect(() => parseProfile('x', 'config/profiles/x.yml', 'registry: [unclosed', env)).toThrow(
      /config\/profiles\/x.yml: not valid YAML/,
    );
  });

  it('rejects a document that is not a mapping', () => {
    expect(() => parseProfile('x', 'x.yml', '- a\n- b\n', env)).toThrow(
      /expected a mapping.*got a list/,
    );
  });

  it('rejects unknown keys and names them', () => {
    expect(() => parseProfile('x', 'x.yml', `${STAGING}regsitry: oops\n`, env)).toThrow(
      'x.yml: unknown key "regsitry"',
    );
  });

  it('rejects a bad port and a bad connection', () => {
    expect(() => parseProfile('x', 'x.yml', STAGING, { ...env, STAGING_SSH_PORT: 'abc' })).toThrow(
      /key "ssh_port" must be a port number/,
    );
    expect(() => parseProfile('x', 'x.yml', `${STAGING}connection: telnet\n`, env)).toThrow(
      /key "connection" must be "ssh" or "local"/,
    );
  });

  it('takes ports as the one port check does: decimal integers 1-65535 only', () => {
    for (const bad of ['0', '65536', '0x16', '1e3', '22.5']) {
      expect(() => parseProfile('x', 'x.yml', STAGING, { ...env, STAGING_SSH_PORT: bad })).toThrow(
        `x.yml: key "ssh_port" must be a port number (an integer from 1 to 65535), got "${bad}".`,
      );
    }
    expect(parseProfile('x', 'x.yml', STAGING, { ...env, STAGING_SSH_PORT: '2222' }).ssh_port).toBe(
      2222,
    );
  });

  it('refuses an ssh_user or ssh_host ssh would read as an option, naming file, key and value', () => {
    const load = (vars: Record<string, string>) =>
      parseProfile('staging', 'config/profiles/staging.yml', STAGING, { ...env, ...vars });
    expect(() => load({ STAGING_SSH_HOST: '-oProxyCommand=touch /tmp/x' })).toThrow(
      new ProfileError(
        'config/profiles/staging.yml: key "ssh_host" is "-oProxyCommand=touch /tmp/x" (from ${STAGING_SSH_HOST}): ' +
          'a host name cannot start with "-" (ssh would read it as an option).',
      ),
    );
    expect(() => load({ STAGING_SSH_USER: '-oProxyCommand=x' })).toThrow(
      'config/profiles/staging.yml: key "ssh_user" is "-oProxyCommand=x" (from ${STAGING_SSH_USER:-deploy}): ' +
        'a user name cannot start with "-"',
    );
    expect(() =>
      parseProfile('x', 'x.yml', STAGING.replace('${STAGING_SSH_USER:-deploy}', '-l'), env),
    ).toThrow('x.yml: key "ssh_user" is "-l": a user name cannot start with "-"');
  });

  it('refuses characters no user or host name has', () => {
    for (const [key, variable, value] of [
      ['ssh_host', 'STAGING_SSH_HOST', 'host name'],
      ['ssh_host', 'STAGING_SSH_HOST', 'deploy@host'],
      ['ssh_host', 'STAGING_SSH_HOST', 'host;reboot'],
      ['ssh_host', 'STAGING_SSH_HOST', '.hidden'],
      ['ssh_user', 'STAGING_SSH_USER', 'me@host'],
      ['ssh_user', 'STAGING_SSH_USER', 'a b'],
      ['ssh_user', 'STAGING_SSH_USER', '$(id)'],
    ]) {
      expect(() => parseProfile('x', 'x.yml', STAGING, { ...env, [variable]: value })).toThrow(
        `x.yml: key "${key}" is "${value}"`,
      );
    }
  });

  it('accepts host names, IPv4 and IPv6 addresses and usual user names', () => {
    for (const host of ['staging.example.com', '10.0.0.7', '::1', 'fe80::1%eth0', 'web_1', 'h.']) {
      expect(parseProfile('x', 'x.yml', STAGING, { ...env, STAGING_SSH_HOST: host }).ssh_host).toBe(
        host,
      );
    }
    for (const user of ['deploy', 'root', 'ci.bot', 'svc-deploy', '_ansible', 'machine$']) {
      expect(parseProfile('x', 'x.yml', STAGING, { ...env, STAGING_SSH_USER: user }).ssh_user).toBe(
        user,
      );
    }
  });

  it('reports a required key that is absent', () => {
    expect(() => parseProfile('x', 'x.yml', 'registry: r\n', env)).toThrow(
      'x.yml: key "registry_namespace" is missing.',
    );
  });
});

describe('loadProfile', () => {
  const root = mkdtempSync(join(tmpdir(), 'conveyor-profile-'));
  mkdirSync(join(root, 'config/profiles'), { recursive: true });
  writeFileSync(join(root, 'config/profiles/staging.yml'), STAGING);
  writeFileSync(
    join(root, 'config/profiles/local.yml'),
    'registry: localhost:5000\nregistry_namespace: dev\nconnection: local\n',
  );

  it('loads a profile by name', () => {
    expect(loadProfile(root, 'local', {}, { require: ['registry'] }).connection).toBe('local');
  });

  it('lists the existing profiles when the name is unknown', () => {
    expect(() => loadProfile(root, 'prod', env)).toThrow(
      'Unknown profile "prod": config/profiles/prod.yml does not exist. Profiles: local, staging.',
    );
  });

  it('rejects names that could escape the profiles folder', () => {
    expect(() => loadProfile(root, '../etc/passwd', env)).toThrow(ProfileError);
  });

  it('tells how to create profiles when there are none', () => {
    const empty = mkdtempSync(join(tmpdir(), 'conveyor-noprofile-'));
    expect(() => loadProfile(empty, 'staging', env)).toThrow(/nx g @conveyor\/plugin:init/);
  });
});
