import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Tree } from '@nx/devkit';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { appGenerator } from './app';

/**
 * The host script that stops a colour after its drain time, as the app generator writes it, run by
 * a real shell against a state folder; the compose command and the proxy helper only record what
 * they are asked to do.
 */
describe('stop-after-drain.sh (host helper)', () => {
  let dir: string;
  let script: string;
  const run = promisify(execFile);
  const log = () => {
    try {
      return readFileSync(join(dir, 'log'), 'utf8');
    } catch {
      return '';
    }
  };
  const stopAfter = (colour: string, drain: number) =>
    run('sh', [
      script,
      join(dir, 'state'),
      join(dir, colour),
      colour,
      String(drain),
      join(dir, 'compose'),
      join(dir, 'admin.sock'),
      'backend,frontend',
    ]);
  const live = (colour: string) => writeFileSync(join(dir, 'state', 'color'), `${colour}\n`);

  beforeAll(async () => {
    const tree: Tree = createTreeWithEmptyWorkspace();
    await appGenerator(tree, { name: 'shop', skipInstall: true, skipFormat: true });
    const text = tree.read('apps/shop/infra/ansible/files/stop-after-drain.sh', 'utf8');
    dir = mkdtempSync(join(tmpdir(), 'conveyor-drain-'));
    for (const d of ['state', 'blue', 'green']) mkdirSync(join(dir, d));
    script = join(dir, 'state', 'stop-after-drain.sh');
    writeFileSync(script, text ?? '');
    const recorder = (what: string) =>
      `#!/bin/sh\necho "${what} $* in $(basename "$PWD")" >> ${join(dir, 'log')}\n`;
    writeFileSync(join(dir, 'compose'), recorder('compose'));
    writeFileSync(join(dir, 'state', 'haproxy-admin.py'), recorder('proxy'));
    chmodSync(join(dir, 'compose'), 0o755);
    chmodSync(join(dir, 'state', 'haproxy-admin.py'), 0o755);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => rmSync(join(dir, 'log'), { force: true }));

  it('stops the colour left behind after the drain time, and takes it out of the proxy', async () => {
    live('green');
    await stopAfter('blue', 1);
    expect(log().trim().split('\n')).toEqual([
      expect.stringMatching(/^compose stop in blue$/),
      expect.stringMatching(/set server backend\/blue state maint/),
      expect.stringMatching(/set server frontend\/blue state maint/),
    ]);
  });

  it('leaves a colour that became live again running', async () => {
    live('blue');
    await stopAfter('blue', 1);
    expect(log()).toBe('');
  });

  it('after switches back and forth, only the latest switch stops anything', async () => {
    live('green');
    const first = stopAfter('blue', 2); // switch to green: blue drains
    await new Promise((r) => setTimeout(r, 500));
    live('blue');
    const second = stopAfter('green', 2); // switched back to blue: green drains
    await new Promise((r) => setTimeout(r, 500));
    live('green');
    const third = stopAfter('blue', 2); // and to green again: blue drains its full time again
    await first;
    // The first stop's time is up, but blue was left again since: it keeps running.
    expect(log()).toBe('');
    await Promise.all([second, third]);
    expect(log()).toMatch(/^compose stop in blue$/m);
    expect(log()).not.toMatch(/green/);
  });
});
