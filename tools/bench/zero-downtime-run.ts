/**
 * Measures one operation (an nx target) under constant load on the app's public /metrics:
 * prints one JSON line: requests, failed, p99 (ms) during the operation, seconds until the new
 * version answered. Used by tools/bench/zero-downtime.sh.
 */
import { spawn } from 'node:child_process';
import { startLoad, summarize } from '../../packages/plugin-e2e/src/load';

async function main() {
  const [ws, url, label, ...nxArgs] = process.argv.slice(2);
  const load = startLoad(url, 16, 600_000);
  await new Promise((r) => setTimeout(r, 2000));
  const start = Date.now();
  const code = await new Promise<number>((resolve) =>
    spawn(`${ws}/node_modules/.bin/nx`, [...nxArgs, '--outputStyle=static'], {
      cwd: ws,
      stdio: ['ignore', 'ignore', 'inherit'],
    }).on('close', (c) => resolve(c ?? 1)),
  );
  const end = Date.now();
  await new Promise((r) => setTimeout(r, 2000));
  const all = await load.stop();
  const during = summarize(all.samples, start, end);
  const before = summarize(all.samples, 0, start).versions.pop();
  const firstNew = all.samples
    .filter((s) => s.at >= start && s.version && s.version !== before)
    .reduce((m, s) => Math.min(m, s.at + s.ms), Infinity);
  console.log(
    JSON.stringify({
      label,
      exit: code,
      requests: all.requests,
      failed: all.failed,
      p99: Math.round(during.p99),
      switchSeconds: Number.isFinite(firstNew) ? seconds(firstNew - start) : null,
      commandSeconds: seconds(end - start),
      versions: all.versions,
    }),
  );
}
/** Milliseconds as seconds with two decimals. */
function seconds(ms: number): number {
  return Math.round(ms / 10) / 100;
}
void main();
