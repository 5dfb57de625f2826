import { addProjectConfiguration, logger, Tree } from '@nx/devkit';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { combineOptionsForGenerator } from 'nx/src/utils/params';
import { parse as parseYaml } from 'yaml';
import { appGenerator } from '../app/app';

// Loaded without its types: they pull in the DOM's lib (`/// <reference lib="dom" />`), whose
// fetch types would then apply to the plugin's own Node code.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { parse: parseHcl } = require('@cdktf/hcl2json') as {
  parse: (file: string, text: string) => Promise<Record<string, unknown>>;
};
import { serverGenerator } from './server';
import schema from './schema.json';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Hcl = Record<string, any>;

const app = (tree: Tree, extra: Record<string, unknown> = {}) =>
  appGenerator(tree, { name: 'shop', skipInstall: true, skipFormat: true, ...extra });
const server = (tree: Tree, extra: Record<string, unknown> = {}) =>
  serverGenerator(tree, { app: 'shop', provider: 'aws', skipFormat: true, ...extra });

async function generated(extra: Record<string, unknown> = {}): Promise<Tree> {
  const tree = createTreeWithEmptyWorkspace();
  await app(tree);
  await server(tree, extra);
  return tree;
}

/** hcl2json's blocks of several files as one configuration: lists add up, maps merge. */
function merge(a: Hcl, b: Hcl): Hcl {
  const out: Hcl = { ...a };
  for (const [key, value] of Object.entries(b)) {
    if (Array.isArray(out[key]) && Array.isArray(value)) out[key] = [...out[key], ...value];
    else if (out[key] && typeof out[key] === 'object' && typeof value === 'object')
      out[key] = merge(out[key], value);
    else out[key] = value;
  }
  return out;
}

const mergeAll = (blocks: Hcl[]): Hcl => blocks.reduce(merge, {});

/** Every .tf file of the module parsed by HCL's own parser (hcl2json, HashiCorp's hcl in WebAssembly). */
async function parseModule(tree: Tree, folder: string): Promise<{ files: string[]; config: Hcl }> {
  const files = tree.children(folder).sort();
  let config: Hcl = {};
  for (const file of files.filter((f) => f.endsWith('.tf'))) {
    config = merge(config, await parseHcl(file, tree.read(`${folder}/${file}`, 'utf-8') ?? ''));
  }
  return { files, config };
}

/** The one block of that type (resources and data sources are lists of bodies per name). */
function only(config: Hcl, kind: 'resource' | 'data', type: string): { name: string; body: Hcl } {
  const named = config[kind]?.[type] as Record<string, Hcl[]> | undefined;
  expect(named).toBeDefined();
  const names = Object.keys(named ?? {});
  expect(names).toHaveLength(1);
  return { name: names[0], body: (named as Record<string, Hcl[]>)[names[0]][0] };
}

/** What each cloud's module must make: read from the parse, never from the generator's text. */
const CLOUDS = {
  aws: {
    provider: ['aws', 'hashicorp/aws'],
    server: 'aws_instance',
    firewall: 'aws_security_group',
    userData: (s: Hcl) => s['user_data'],
    ports: (f: Hcl) =>
      (f['ingress'] as Hcl[])
        .filter((r) => r['protocol'] === 'tcp' && r['cidr_blocks'].includes('0.0.0.0/0'))
        .map((r) => (expect(r['to_port']).toBe(r['from_port']), r['from_port'])),
    attached: (_c: Hcl, s: Hcl, fw: string) =>
      expect(s['vpc_security_group_ids']).toEqual([`\${aws_security_group.${fw}.id}`]),
    image: (c: Hcl, s: Hcl) => {
      const ami = only(c, 'data', 'aws_ami');
      expect(s['ami']).toBe(`\${data.aws_ami.${ami.name}.id}`);
      expect(ami.body['owners']).toEqual(['136693071363']);
      return ami.body['filter'].find((f: Hcl) => f['name'] === 'name')['values'][0];
    },
    key: 'aws_key_pair',
  },
  azure: {
    provider: ['azurerm', 'hashicorp/azurerm'],
    server: 'azurerm_linux_virtual_machine',
    firewall: 'azurerm_network_security_group',
    userData: (s: Hcl) => s['custom_data'],
    ports: (f: Hcl) =>
      (f['security_rule'] as Hcl[])
        .filter((r) => r['direction'] === 'Inbound' && r['access'] === 'Allow')
        .flatMap((r) => r['destination_port_ranges'].map(Number)),
    attached: (c: Hcl, s: Hcl, fw: string) => {
      const nic = only(c, 'resource', 'azurerm_network_interface').name;
      expect(s['network_interface_ids']).toEqual([`\${azurerm_network_interface.${nic}.id}`]);
      const link = only(c, 'resource', 'azurerm_network_interface_security_group_association');
      expect(link.body['network_interface_id']).toBe(`\${azurerm_network_interface.${nic}.id}`);
      expect(link.body['network_security_group_id']).toBe(
        `\${azurerm_network_security_group.${fw}.id}`,
      );
    },
    image: (_c: Hcl, s: Hcl) => {
      const image = s['source_image_reference'][0];
      expect(image['publisher']).toBe('Debian');
      return image['offer'];
    },
    key: undefined,
  },
  gcp: {
    provider: ['google', 'hashicorp/google'],
    server: 'google_compute_instance',
    firewall: 'google_compute_firewall',
    userData: (s: Hcl) => s['metadata']['user-data'],
    ports: (f: Hcl) => {
      expect(f['source_ranges']).toEqual(['0.0.0.0/0']);
      return (f['allow'] as Hcl[])
        .filter((r) => r['protocol'] === 'tcp')
        .flatMap((r) => r['ports'].map(Number));
    },
    attached: (c: Hcl, s: Hcl, fw: string) =>
      expect(c['resource']['google_compute_firewall'][fw][0]['target_tags']).toEqual(s['tags']),
    image: (_c: Hcl, s: Hcl) => s['boot_disk'][0]['initialize_params'][0]['image'],
    key: undefined,
  },
  hetzner: {
    provider: ['hcloud', 'hetznercloud/hcloud'],
    server: 'hcloud_server',
    firewall: 'hcloud_firewall',
    userData: (s: Hcl) => s['user_data'],
    ports: (f: Hcl) =>
      (f['rule'] as Hcl[])
        .filter((r) => r['direction'] === 'in' && r['protocol'] === 'tcp')
        .map((r) => Number(r['port'])),
    attached: (_c: Hcl, s: Hcl, fw: string) =>
      expect(s['firewall_ids']).toEqual([`\${hcloud_firewall.${fw}.id}`]),
    image: (_c: Hcl, s: Hcl) => s['image'],
    key: 'hcloud_ssh_key',
  },
} as const;
const IMAGES = {
  aws: 'debian-12-amd64-*',
  azure: 'debian-12',
  // Google's Debian images have no cloud-init: the module says why it takes Ubuntu there.
  gcp: 'ubuntu-os-cloud/ubuntu-2404-lts-amd64',
  hetzner: 'debian-12',
};

const CI_KEY =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJxv0bTn4t0sLxQ1F9k1m9u1c2Bv3m5t0T0Z2Y8Wq0rE ci@shop';

/** The value Terraform gives an expression of cloud_init_vars: var.X or trimspace(var.X) only. */
function evaluate(expression: string, config: Hcl, given: Record<string, string>): string {
  const m = /^\$\{(trimspace\()?var\.([a-z_]+)\)?\}$/.exec(expression);
  if (!m) throw new Error(`cloud_init_vars: no evaluator for ${expression}`);
  const declared = config['variable'][m[2]]?.[0];
  if (!declared) throw new Error(`var.${m[2]} is not declared`);
  const value = given[m[2]] ?? declared['default'];
  if (value === undefined) throw new Error(`var.${m[2]} has no default and no value in the test`);
  return m[1] ? String(value).trim() : String(value);
}

/** Terraform's template interpolation, for the names it is given: any other ${...} is an error. */
function render(template: string, vars: Record<string, string>): string {
  const out = template.replace(/\$\{([^}]*)\}/g, (whole, name: string) => {
    if (!(name in vars))
      throw new Error(`${whole} in the template is not one of ${Object.keys(vars)}`);
    return vars[name];
  });
  const left = /\$\{|%\{/.exec(out);
  if (left) throw new Error(`the rendered template still has ${left[0]}...`);
  return out;
}

/** The template's variables as the module passes them, with the module's defaults. */
async function cloudInitVars(tree: Tree, given: Record<string, string> = {}) {
  const folder = 'apps/shop/infra/terraform/aws';
  const { config } = await parseModule(tree, folder);
  const locals = mergeAll(config['locals'] as Hcl[]);
  return Object.fromEntries(
    Object.entries(locals['cloud_init_vars'] as Record<string, string>).map(([k, e]) => [
      k,
      evaluate(e, config, { ssh_public_key: ` ${CI_KEY}\n`, ...given }),
    ]),
  );
}

/** `cloud-init schema --config-file`, Debian's cloud-init (22.4 on Debian 12). */
function cloudInitSchema(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-cloud-init-'));
  try {
    const file = join(dir, 'user-data.yaml');
    writeFileSync(file, text);
    const r = spawnSync('cloud-init', ['schema', '--config-file', file], { encoding: 'utf8' });
    if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      throw new Error(
        'cloud-init is not installed, and the user-data must be checked with it: ' +
          'apt-get install -y cloud-init (tools/env/lib/tools.sh installs it).',
      );
    }
    const output = `${r.stdout}${r.stderr}`;
    if (r.status !== 0) throw new Error(`cloud-init schema refused the user-data:\n${output}`);
    return output;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The top-level keys cloud-init's schema knows (22.4 lets unknown ones, a typo, pass). */
function cloudInitKeys(): Set<string> {
  const bin = spawnSync('sh', ['-c', 'command -v cloud-init'], { encoding: 'utf8' }).stdout.trim();
  const python = readFileSync(bin, 'utf8')
    .split('\n')[0]
    .replace(/^#!\s*/, '')
    .split(' ')[0];
  const r = spawnSync(
    python,
    ['-c', 'import json, cloudinit.config.schema as s; print(json.dumps(s.get_schema()))'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`cloud-init's schema could not be read: ${r.stderr}`);
  const defs = Object.values(JSON.parse(r.stdout)['$defs']) as Hcl[];
  return new Set(defs.flatMap((d) => Object.keys(d['properties'] ?? {})));
}

/** bootstrap.yml as the app generator wrote it into the same tree: its one play. */
function bootstrapPlay(tree: Tree): Hcl {
  return parseYaml(tree.read('apps/shop/infra/ansible/bootstrap.yml', 'utf-8') ?? '')[0];
}
const task = (play: Hcl, name: RegExp): Hcl => {
  const all = [...play['tasks'], ...play['tasks'].flatMap((t: Hcl) => t['block'] ?? [])];
  return all.find((t: Hcl) => name.test(t['name']));
};
const directives = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

describe('server generator', () => {
  beforeEach(() => jest.spyOn(logger, 'info').mockImplementation(() => undefined));
  afterEach(() => jest.restoreAllMocks());

  describe.each(Object.keys(CLOUDS) as (keyof typeof CLOUDS)[])('--provider=%s', (provider) => {
    const cloud = CLOUDS[provider];
    const folder = `apps/shop/infra/terraform/${provider}`;
    let tree: Tree;
    let files: string[];
    let config: Hcl;
    beforeAll(async () => {
      jest.spyOn(logger, 'info').mockImplementation(() => undefined);
      tree = await generated({ provider });
      ({ files, config } = await parseModule(tree, folder));
    });

    it('writes the four .tf files and a README, all parsed by HCL', () => {
      expect(files).toEqual(['README.md', 'main.tf', 'outputs.tf', 'variables.tf', 'versions.tf']);
      expect(Object.keys(config['resource'])).toContain(cloud.server);
    });

    it('pins the provider to a major version', () => {
      const [name, source] = cloud.provider;
      const terraform = mergeAll(config['terraform'] as Hcl[]);
      expect(terraform['required_version']).toMatch(/^>= 1\.\d+/);
      const required = terraform['required_providers'][0][name];
      expect(required['source']).toBe(source);
      expect(required['version']).toMatch(/^~> \d+\.\d+$/);
      expect(Object.keys(config['provider'])).toEqual([name]);
    });

    it(`makes the server from ${IMAGES[provider]} behind a firewall opening 22, 80 and 443`, () => {
      const vm = only(config, 'resource', cloud.server);
      expect(cloud.image(config, vm.body)).toBe(IMAGES[provider]);
      const fw = only(config, 'resource', cloud.firewall);
      expect([...cloud.ports(fw.body)].sort((a, b) => a - b)).toEqual([22, 80, 443]);
      cloud.attached(config, vm.body, fw.name);
      if (cloud.key) {
        expect(only(config, 'resource', cloud.key).body['public_key']).toBe(
          '${trimspace(var.admin_ssh_public_key)}',
        );
      }
    });

    it('gives the server the generated cloud-init template, once (later edits do not replace it)', () => {
      const vm = only(config, 'resource', cloud.server).body;
      const locals = mergeAll(config['locals'] as Hcl[]);
      const expected =
        provider === 'azure' ? '${base64encode(local.user_data)}' : '${local.user_data}';
      expect(cloud.userData(vm)).toBe(expected);
      const call =
        /^\$\{templatefile\("\$\{path\.module\}\/([^"]+)", local\.cloud_init_vars\)\}$/.exec(
          locals['user_data'],
        );
      expect(call).not.toBeNull();
      const template = posix.normalize(`${folder}/${call?.[1]}`);
      expect(template).toBe('apps/shop/infra/cloud-init/user-data.yaml.tftpl');
      expect(tree.exists(template)).toBe(true);
      expect(vm['lifecycle'][0]['ignore_changes']).toHaveLength(1);
    });

    it('names its outputs after the profile, and declares every variable it uses', () => {
      const out = (name: string) => config['output'][name]?.[0]['value'];
      const ip = /^\$\{([a-z_]+)\.([a-z_]+)\.[a-z0-9_]+\}$/.exec(out('STAGING_SSH_HOST'));
      expect(config['resource'][ip?.[1] ?? '']?.[ip?.[2] ?? '']).toBeDefined();
      expect(out('STAGING_SSH_USER')).toBe('${var.deploy_user}');
      expect(out('STAGING_DEPLOY_PATH')).toBe('${var.deploy_path}');
      const variable = (name: string) => config['variable'][name][0];
      expect(variable('deploy_user')['default']).toBe('deploy');
      expect(variable('deploy_path')['default']).toBe('/opt/conveyor');
      expect(variable('ssh_public_key')['default']).toBeUndefined();
      const used = new Set(
        [...JSON.stringify(config).matchAll(/\bvar\.([a-z0-9_]+)/g)].map((m) => m[1]),
      );
      expect([...used].filter((v) => !(v in config['variable']))).toEqual([]);
    });

    it('refuses, before anything is made, a key that would break out of the YAML', () => {
      const condition: string =
        config['variable']['ssh_public_key'][0]['validation'][0]['condition'];
      // The regex literal, unescaped as HCL does (its escapes are JSON's here).
      const literal = /regex\("((?:[^"\\]|\\.)*)"/.exec(condition)?.[1] ?? '';
      const valid = new RegExp(JSON.parse(`"${literal}"`));
      expect(valid.test(CI_KEY)).toBe(true);
      expect(valid.test(CI_KEY.replace('ci@shop', 'ci" injected'))).toBe(false);
      expect(valid.test(`${CI_KEY}\n${CI_KEY}`)).toBe(false);
      expect(valid.test('not a key')).toBe(false);
    });

    it('passes the template the same variables as every other module', async () => {
      const aws = await parseModule(
        await generated({ provider: 'aws' }),
        'apps/shop/infra/terraform/aws',
      );
      const vars = (c: Hcl) => mergeAll(c['locals'] as Hcl[])['cloud_init_vars'];
      expect(vars(config)).toEqual(vars(aws.config));
    });
  });

  describe('the cloud-init template', () => {
    let tree: Tree;
    let template: string;
    beforeAll(async () => {
      jest.spyOn(logger, 'info').mockImplementation(() => undefined);
      tree = await generated();
      template = tree.read('apps/shop/infra/cloud-init/user-data.yaml.tftpl', 'utf-8') ?? '';
    });

    it("rendered with the modules' variables, is valid for cloud-init (schema, no deprecations, known keys)", async () => {
      const text = render(template, await cloudInitVars(tree));
      const output = cloudInitSchema(text);
      expect(output).toContain('Valid cloud-config');
      expect(output).not.toMatch(/deprecat/i);
      const known = cloudInitKeys();
      expect(Object.keys(parseYaml(text)).filter((k) => !known.has(k))).toEqual([]);
    });

    it('makes the deploy user with the CI key only, in group docker, without a password', async () => {
      const doc = parseYaml(render(template, await cloudInitVars(tree)));
      expect(doc['users'][0]).toBe('default');
      const deploy = doc['users'].find((u: Hcl) => u['name'] === 'deploy');
      expect(deploy['ssh_authorized_keys']).toEqual([CI_KEY]);
      expect(deploy['groups']).toEqual(['docker']);
      expect(deploy['lock_passwd']).toBe(true);
      expect(deploy['sudo']).toBeUndefined();
      expect(doc['ssh_pwauth']).toBe(false);
      expect(doc['disable_root']).toBe(false);
    });

    it('takes another deploy user and folder as Terraform passes them', async () => {
      const vars = await cloudInitVars(tree, { deploy_user: 'ci', deploy_path: '/srv/apps' });
      const doc = parseYaml(render(template, vars));
      expect(doc['users'][1]['name']).toBe('ci');
      expect(doc['runcmd']).toContainEqual([
        'install',
        '-d',
        '-o',
        'ci',
        '-g',
        'ci',
        '-m',
        '0755',
        '/srv/apps',
      ]);
    });

    it("installs bootstrap.yml's packages for docker, opens 22/80/443 and turns ufw on", async () => {
      const doc = parseYaml(render(template, await cloudInitVars(tree)));
      const play = bootstrapPlay(tree);
      const apt = task(play, /Install the engine/)['ansible.builtin.apt']['name'] as string;
      const extra = (/\+ \[([^\]]*)\]/.exec(apt)?.[1] ?? '')
        .split(',')
        .map((p) => p.trim().replace(/'/g, ''));
      expect(extra).toContain('ufw');
      expect(doc['package_update']).toBe(true);
      expect([...doc['packages']].sort()).toEqual(
        [...play['vars']['engine_packages']['docker'], ...extra].sort(),
      );
      const ufw = (doc['runcmd'] as string[][]).filter((c) => c[0] === 'ufw');
      expect(ufw.filter((c) => c[1] === 'allow').map((c) => c[2])).toEqual([
        '22/tcp',
        '80/tcp',
        '443/tcp',
      ]);
      expect(ufw.at(-1)).toEqual(['ufw', '--force', 'enable']);
      expect(doc['runcmd']).toContainEqual([
        'install',
        '-d',
        '-o',
        'deploy',
        '-g',
        'deploy',
        '-m',
        '0755',
        '/opt/conveyor',
      ]);
    });

    it("writes bootstrap.yml's sshd settings for a root admin and its unattended upgrades", async () => {
      const doc = parseYaml(render(template, await cloudInitVars(tree)));
      const play = bootstrapPlay(tree);
      const file = (path: string) => doc['write_files'].find((f: Hcl) => f['path'] === path);
      const sshd = task(play, /Write the sshd settings/)['ansible.builtin.copy'];
      expect(file(sshd['dest'])).toBeDefined();
      expect(directives(file(sshd['dest'])['content'])).toEqual(
        directives(sshd['content'].replace('{{ permit_root_login }}', 'prohibit-password')),
      );
      expect(directives(file(sshd['dest'])['content'])).toContain('PasswordAuthentication no');
      const upgrades = task(play, /Turn on unattended/)['ansible.builtin.copy'];
      expect(file(upgrades['dest'])['content']).toBe(upgrades['content']);
    });
  });

  it('names the outputs after --profile', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await app(tree);
    await server(tree, { provider: 'hetzner', profile: 'production' });
    const { config } = await parseModule(tree, 'apps/shop/infra/terraform/hetzner');
    expect(Object.keys(config['output']).sort()).toEqual([
      'PRODUCTION_DEPLOY_PATH',
      'PRODUCTION_SSH_HOST',
      'PRODUCTION_SSH_USER',
      'admin_user',
    ]);
    expect(config['variable']['name'][0]['default']).toBe('shop-production');
  });

  describe('refuses, changing nothing', () => {
    it.each([
      [
        'an unknown app',
        { app: 'nope' },
        /No project named "nope" in this workspace\. Conveyor apps here: shop\./,
      ],
      [
        'a project of the app',
        { app: 'shop-backend' },
        /"shop-backend" is a project of the Conveyor app "shop"/,
      ],
      ['a project that is no Conveyor app', { app: 'lib' }, /Project "lib" is not a Conveyor app/],
      [
        'a local profile',
        { profile: 'local' },
        /config\/profiles\/local\.yml deploys to this machine/,
      ],
      [
        'a profile that does not exist',
        { profile: 'qa' },
        /config\/profiles\/qa\.yml does not exist\. Profiles: local, production, staging\./,
      ],
      [
        'an unknown provider (called without the CLI)',
        { provider: 'ovh' },
        /--provider must be one of aws, azure, gcp, hetzner, got "ovh"/,
      ],
    ])('%s', async (_, options, message) => {
      const tree = createTreeWithEmptyWorkspace();
      await app(tree);
      addProjectConfiguration(tree, 'lib', { root: 'libs/lib' });
      const before = tree.listChanges().map((c) => c.path);
      await expect(server(tree, options)).rejects.toThrow(message);
      expect(tree.listChanges().map((c) => c.path)).toEqual(before);
    });
  });

  describe('its schema, as `nx g` applies it', () => {
    const options = (argv: Parameters<typeof combineOptionsForGenerator>[0]) =>
      combineOptionsForGenerator(
        argv,
        '@conveyor/plugin',
        'server',
        { version: 2, projects: {} },
        {},
        schema as Parameters<typeof combineOptionsForGenerator>[5],
        false,
        null,
        '',
        false,
      );

    it('takes the app as its first argument, staging by default', async () => {
      expect(await options({ _: ['shop'], provider: 'gcp' })).toEqual({
        app: 'shop',
        provider: 'gcp',
        profile: 'staging',
        skipFormat: false,
      });
    });

    it('refuses an option it does not have (additionalProperties: false), such as --provder', async () => {
      await expect(
        options({ _: ['shop'], provider: 'aws', provder: 'aws' }),
      ).rejects.toHaveProperty('message', "'provder' is not found in schema");
      // Alone, the typo leaves the required --provider missing, which Nx names first.
      await expect(options({ _: ['shop'], provder: 'aws' })).rejects.toHaveProperty(
        'message',
        "Required property 'provider' is missing",
      );
      await expect(options({ _: ['shop'], provider: 'ovh' })).rejects.toHaveProperty(
        'message',
        expect.stringContaining('ovh'),
      );
    });
  });
});
