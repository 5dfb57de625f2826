import { readProjectConfiguration, Tree, updateProjectConfiguration } from '@nx/devkit';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { appGenerator } from '../app/app';
import { monitoringGenerator } from '../monitoring/monitoring';
import { syncGenerator } from './sync';

const gen = (tree: Tree, name: string, extra: Record<string, unknown> = {}) =>
  appGenerator(tree, { name, skipInstall: true, skipFormat: true, ...extra });

describe('sync generator', () => {
  it('gives a second app ports that collide with no other app', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await gen(tree, 'shop');
    await gen(tree, 'blog');
    const options = readProjectConfiguration(tree, 'blog').targets?.['deploy'].options;
    expect(options).toMatchObject({ backendPort: 8090, frontendPort: 5183 });
    await expect(syncGenerator(tree)).resolves.toBeDefined();
  });

  it('refuses a plan where two apps share a port, naming both and the port', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await gen(tree, 'shop');
    await gen(tree, 'blog');
    const blog = readProjectConfiguration(tree, 'blog');
    blog.targets!['deploy'].options.backendPort = 28080; // shop's green backend port
    updateProjectConfiguration(tree, 'blog', blog);
    await expect(syncGenerator(tree)).rejects.toThrow(
      /Port 28080 .*"blog".*"shop"|Port 28080 .*"shop".*"blog"/,
    );
  });

  it('adds the monitoring targets of a new app and lists it in the CI workflow', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await gen(tree, 'shop');
    await monitoringGenerator(tree, { skipFormat: true }, {});
    await gen(tree, 'blog');
    expect(tree.exists('monitoring/prometheus/targets/blog.staging.yml')).toBe(false);
    await syncGenerator(tree);
    expect(tree.exists('monitoring/prometheus/targets/blog.staging.yml')).toBe(true);
    expect(tree.read('.github/workflows/ci-cd.yml', 'utf-8')).toContain('(blog, shop)');
  });

  it('keeps existing target lists of both folders as they are, and adds the colours of a new app', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await gen(tree, 'shop');
    await monitoringGenerator(tree, { skipFormat: true }, {});
    const shopColors = 'monitoring/prometheus/targets/colors/shop.staging.yml';
    tree.write(shopColors, '# resolved by whoever ran the generator\n[]\n');
    tree.write('monitoring/prometheus/targets/shop.staging.yml', '# kept\n[]\n');
    await gen(tree, 'blog');
    await syncGenerator(tree);
    expect(tree.read(shopColors, 'utf-8')).toBe('# resolved by whoever ran the generator\n[]\n');
    expect(tree.read('monitoring/prometheus/targets/shop.staging.yml', 'utf-8')).toBe(
      '# kept\n[]\n',
    );
    expect(tree.isFile('monitoring/prometheus/targets/colors/blog.staging.yml')).toBe(true);
    expect(tree.isFile('monitoring/prometheus/targets/colors')).toBe(false);
  });
});
