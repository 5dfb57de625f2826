/** The generated bootstrap.yml: ansible-playbook --syntax-check and ansible-lint (when installed). */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { parse } from 'yaml';
import { appGenerator } from '../../generators/app/app';

const has = (tool: string) => spawnSync(tool, ['--version']).status === 0;

describe('bootstrap.yml', () => {
  let dir: string;
  let text: string;
  beforeAll(async () => {
    const tree = createTreeWithEmptyWorkspace();
    await appGenerator(tree, { name: 'shop', skipInstall: true, skipFormat: true });
    dir = mkdtempSync(join(tmpdir(), 'conveyor-bootstrap-'));
    for (const f of ['bootstrap.yml', 'ansible.cfg', 'inventory/staging']) {
      const content = tree.read(`apps/shop/infra/ansible/${f}`, 'utf8');
      if (content === null) throw new Error(`not generated: ${f}`);
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      writeFileSync(join(dir, f), content);
    }
    text = tree.read('apps/shop/infra/ansible/bootstrap.yml', 'utf8') ?? '';
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('hardens sshd only in a block whose rescue removes the settings again', () => {
    const play = (
      parse(text) as { tasks: { name: string; block?: unknown[]; rescue?: unknown[] }[] }[]
    )[0];
    const harden = play.tasks.find((t) => t.block);
    expect(JSON.stringify(harden?.block)).toContain('PermitRootLogin {{ permit_root_login }}');
    expect(JSON.stringify(harden?.block)).toContain('ClientAliveInterval 30');
    expect(JSON.stringify(harden?.block)).toContain('admin_login');
    expect(JSON.stringify(harden?.block)).toContain('PasswordAuthentication no');
    expect(JSON.stringify(harden?.block)).toContain('sshd -t');
    expect(JSON.stringify(harden?.rescue)).toContain('"state":"absent"');
    expect(play.tasks.findIndex((t) => /deploy user can log in/.test(t.name))).toBeLessThan(
      play.tasks.indexOf(harden as never),
    );
  });

  it('keeps a root admin its key login and opens the ports sshd listens on (templated by Ansible)', () => {
    if (!has('ansible-playbook')) return;
    type Task = { name: string; loop?: string; block?: { copy?: { content: string } }[] };
    const play = (parse(text) as { vars: Record<string, unknown>; tasks: Task[] }[])[0];
    const loop = play.tasks.find((t) => /^Allow SSH/.test(t.name))?.loop;
    const settings = play.tasks
      .flatMap((t) => t.block ?? [])
      .map((t) => (t as Record<string, { content?: string }>)['ansible.builtin.copy']?.content)
      .find((c) => c?.includes('PermitRootLogin'));
    expect(loop).toBeDefined();
    expect(settings).toBeDefined();
    // What the play would write and allow, for an admin root and an admin with sudo, behind a
    // port forward (the play connects to 2222; sshd listens on 22 and 2200).
    const probe = [
      {
        hosts: 'localhost',
        connection: 'local',
        gather_facts: false,
        vars: {
          ...play.vars,
          conveyor_ssh_port: 2222,
          public_ports: [8080],
          sshd_effective: { stdout_lines: ['port 22', 'addressfamily any', 'port 2200'] },
        },
        tasks: ['root', 'anna'].map((admin) => ({
          name: admin,
          vars: { ansible_user: admin },
          'ansible.builtin.debug': { msg: `ports=${loop} settings=${settings}` },
        })),
      },
    ];
    writeFileSync(join(dir, 'probe.yml'), JSON.stringify(probe));
    const r = spawnSync('ansible-playbook', ['-i', 'localhost,', 'probe.yml'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, ANSIBLE_CONFIG: join(dir, 'ansible.cfg'), ANSIBLE_NOCOLOR: '1' },
    });
    expect(r.status).toBe(0);
    const [root, anna] = [...r.stdout.matchAll(/"msg": "(.*)"/g)].map((m) => m[1]);
    expect(root).toContain('ports=[22, 2200, 8080]');
    expect(root).toContain('PermitRootLogin prohibit-password');
    expect(anna).toContain('PermitRootLogin no');
    expect(anna).toContain('ClientAliveInterval 30');
  });

  it('passes ansible-playbook --syntax-check', () => {
    if (!has('ansible-playbook')) return;
    const r = spawnSync(
      'ansible-playbook',
      ['-i', 'inventory/staging', 'bootstrap.yml', '--syntax-check'],
      {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, ANSIBLE_CONFIG: join(dir, 'ansible.cfg'), ANSIBLE_NOCOLOR: '1' },
      },
    );
    expect(r.stdout + r.stderr).toContain('playbook: bootstrap.yml');
    expect(r.status).toBe(0);
  });

  it('passes ansible-lint', () => {
    if (!has('ansible-lint')) return;
    const r = spawnSync('ansible-lint', ['--offline', '--nocolor', 'bootstrap.yml'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, ANSIBLE_CONFIG: join(dir, 'ansible.cfg') },
      timeout: 120_000,
    });
    expect(r.stdout + r.stderr).not.toMatch(/\n\S+\.yml:\d+/);
    expect(r.status).toBe(0);
  }, 150_000);
});
