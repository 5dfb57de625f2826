/**
 * Once per unit-test run: builds the host helper's zipapp (src/host/conveyor-host.pyz, not in git)
 * from the package src/host/conveyor_host, as `nx run plugin:build` does for dist. The specs, and
 * anything else running the plugin from its sources, then run the helper as it is now.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export default function globalSetup(): void {
  execFileSync('python3', [join(__dirname, 'src', 'host', 'build.py')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
