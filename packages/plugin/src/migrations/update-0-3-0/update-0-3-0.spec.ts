import { logger, readJson, readProjectConfiguration, Tree, writeJson } from '@nx/devkit';
import { contentHash, Manifest, MANIFEST_FILE } from '../../core/workspace/owned';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { appGenerator } from '../../generators/app/app';
import update030 from './update-0-3-0';

/** A workspace as 0.2.0 left it: rollback, doctor and bootstrap carry copies of deploy's options. */
async function workspaceOf020(): Promise<Tree> {
  const tree = createTreeWithEmptyWorkspace();
  await appGenerator(tree, { name: 'shop', skipInstall: true, skipFormat: true });
  const config = readProjectConfiguration(tree, 'shop');
  const targets = config.targets ?? {};
  const deploy = targets['deploy'].options as Record<string, unknown>;
  targets['rollback'].options = { ...deploy };
  targets['doctor'].options = {
    profile: 'local',
    backendPort: deploy['backendPort'],
    frontendPort: deploy['frontendPort'],
  };
  targets['bootstrap'].options = {
    profile: 'local',
    ansibleDir: deploy['ansibleDir'],
    backendPort: deploy['backendPort'],
    frontendPort: deploy['frontendPort'],
    adminUser: 'admin',
  };
  tree.write('apps/shop/project.json', JSON.stringify(config));
  // 0.2.0's playbook installed the helper as conveyor-host.py; its manifest says so.
  const playbook = 'apps/shop/infra/ansible/playbook.yml';
  const old = (tree.read(playbook, 'utf-8') ?? '').replace(
    /conveyor-host\.pyz/g,
    'conveyor-host.py',
  );
  tree.write(playbook, old);
  const manifest = readJson<Manifest>(tree, `apps/shop/${MANIFEST_FILE}`);
  manifest.owned['infra/ansible/playbook.yml'] = contentHash(old);
  manifest.version = '0.2.0';
  writeJson(tree, `apps/shop/${MANIFEST_FILE}`, manifest);
  return tree;
}

describe('update-0-3-0', () => {
  it("leaves rollback, doctor and bootstrap their own options only: the rest is deploy's", async () => {
    const tree = await workspaceOf020();
    const warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    await update030(tree);
    const targets = readProjectConfiguration(tree, 'shop').targets ?? {};
    expect(targets['rollback'].options).toEqual({ profile: 'local' });
    expect(targets['doctor'].options).toEqual({ profile: 'local' });
    expect(targets['bootstrap'].options).toEqual({ profile: 'local', adminUser: 'admin' });
    expect(targets['deploy'].options).toMatchObject({
      backendPort: 8080,
      ansibleDir: 'apps/shop/infra/ansible',
    });
    expect(warn).not.toHaveBeenCalled();
    // The playbook is this version's: it installs the zipapp.
    const playbook = tree.read('apps/shop/infra/ansible/playbook.yml', 'utf-8') ?? '';
    expect(playbook).toContain('{{ state_dir }}/conveyor-host.pyz');
    expect(playbook).not.toMatch(/conveyor-host\.py\b(?!z)/);
    // The same as what this version generates, so a second run changes nothing.
    const once = tree.read('apps/shop/project.json', 'utf-8');
    await update030(tree);
    expect(tree.read('apps/shop/project.json', 'utf-8')).toBe(once);
    warn.mockRestore();
  });

  it('reports a copy that differed from deploy, naming both values', async () => {
    const tree = await workspaceOf020();
    const config = readProjectConfiguration(tree, 'shop');
    (config.targets?.['rollback'].options as Record<string, unknown>)['backendPort'] = 3999;
    tree.write('apps/shop/project.json', JSON.stringify(config));
    const warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    await update030(tree);
    expect(warn).toHaveBeenCalledWith(
      expect.stringContaining('shop:rollback set backendPort=3999 (deploy: 8080)'),
    );
    expect(readProjectConfiguration(tree, 'shop').targets?.['rollback'].options).toEqual({
      profile: 'local',
    });
    warn.mockRestore();
  });
});
