/**
 * Measures one operation (an nx target) under constant load on an app's public /metrics: 16
 * keep-alive connections, split evenly over the URLs given (comma-separated: one per host of a
 * fleet). Prints one JSON line: requests and failed requests summed over the URLs, p99 (ms) during
 * the operation, seconds until the new version answered on every URL (the latest of them). When
 * the command fails, also the requests that reached the release it failed to make live (its
 * version, or a 500) from the first to the last of them. Used by tools/bench/zero-downtime.sh.
 */
import { spawn } from 'node:child_process';
import { Sample, startLoad, summarize } from '../../packages/plugin-e2e/src/load';

const CONNECTIONS = 16;

async function main() {
  const [ws, urlList, label, ...nxArgs] = process.argv.slice(2);
  const urls = urlList.split(',');
  const loads = urls.map((url) =>
    startLoad(url, Math.max(1, Math.floor(CONNECTIONS / urls.length)), 600_000),
  );
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
  const perUrl = await Promise.all(loads.map((l) => l.stop()));
  const all = perUrl.flatMap((s) => s.samples);
  const during = summarize(all, start, end);
  const hosts = perUrl.map((s) => newRelease(s.samples, start));
  const switched = hosts.map((h) => h.firstAnswerAt);
  const answers = hosts.flatMap((h) => h.answers);
  console.log(
    JSON.stringify({
      label,
      exit: code,
      requests: all.length,
      failed: perUrl.reduce((n, s) => n + s.failed, 0),
      p99: Math.round(during.p99),
      switchSeconds: switched.every(Number.isFinite)
        ? seconds(Math.max(...switched) - start)
        : null,
      commandSeconds: seconds(end - start),
      failedRelease: code === 0 ? null : notLive(all, answers),
      versions: perUrl.map((s) => s.versions),
    }),
  );
}

/**
 * What one URL's load saw of the release the command brought: the responses that reached it
 * (another version than the one served before the command, or a 500, which carries none), and
 * when its first answer completed.
 */
function newRelease(samples: Sample[], start: number) {
  const before = summarize(samples, 0, start).versions.pop();
  const after = samples.filter((s) => s.at >= start);
  const answers = after.filter((s) => s.status === 500 || (s.version && s.version !== before));
  const firstAnswerAt = after
    .filter((s) => s.version && s.version !== before)
    .reduce((m, s) => Math.min(m, s.at + s.ms), Infinity);
  return { answers, firstAnswerAt };
}

/**
 * The requests that reached a release that did not go live (canary.e2e's measure of an aborted
 * canary): from the first to the last of them, how many there were among all requests sent then.
 */
function notLive(all: Sample[], answers: Sample[]) {
  if (answers.length === 0) return null;
  const ats = answers.map((s) => s.at).sort((a, b) => a - b);
  const from = ats[0];
  const to = ats[ats.length - 1];
  const of = all.filter((s) => s.at >= from && s.at <= to).length;
  return {
    requests: answers.length,
    of,
    percent: Math.round((answers.length / of) * 1000) / 10,
    seconds: seconds(to - from),
  };
}

/** Milliseconds as seconds with two decimals. */
function seconds(ms: number): number {
  return Math.round(ms / 10) / 100;
}
void main();
