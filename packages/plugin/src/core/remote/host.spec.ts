import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HELPER_COMMANDS } from './host';

describe('the host helper subcommands', () => {
  it('are the ones the helper dispatches, no more and no fewer', () => {
    const cli = readFileSync(join(__dirname, '../../host/conveyor_host/cli.py'), 'utf8');
    const dispatched = new Set<string>();
    for (const m of cli.matchAll(/command (?:==|in) (\([^)]*\)|"[^"]+")/g))
      for (const name of m[1].matchAll(/"([^"]+)"/g)) dispatched.add(name[1]);
    expect([...dispatched].sort()).toEqual(Object.keys(HELPER_COMMANDS).sort());
  });
});
