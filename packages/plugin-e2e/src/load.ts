/**
 * A bounded HTTP load generator for zero-downtime checks: keep-alive connections hammer one URL,
 * every response is counted (status, version it reports, latency), every socket error too.
 */
import http from 'node:http';
import https from 'node:https';

/** HTTPS through an edge on this machine: the name's certificate checked against `ca`. */
export interface TlsTarget {
  /** The name in SNI and Host (the URL's host is where the connection goes). */
  servername: string;
  ca: string;
}

export interface Sample {
  at: number;
  ms: number;
  status: number;
  version?: string;
  error?: string;
}

export interface LoadStats {
  requests: number;
  failed: number;
  errors: number;
  non2xx: number;
  /** Versions in the order they were first served, collapsing repeats: [v1, v2] = one switch. */
  versions: string[];
  p99: number;
  samples: Sample[];
}

export interface Load {
  stop(): Promise<LoadStats>;
}

const percentile = (values: number[], p: number) => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

export function summarize(samples: Sample[], from = 0, to = Infinity): LoadStats {
  const window = samples.filter((s) => s.at >= from && s.at <= to);
  const versions: string[] = [];
  for (const s of [...window].sort((a, b) => a.at - b.at)) {
    if (s.version && versions[versions.length - 1] !== s.version) versions.push(s.version);
  }
  const errors = window.filter((s) => s.error).length;
  const non2xx = window.filter((s) => !s.error && (s.status < 200 || s.status > 299)).length;
  return {
    requests: window.length,
    failed: errors + non2xx,
    errors,
    non2xx,
    versions,
    p99: percentile(
      window.map((s) => s.ms),
      99,
    ),
    samples: window,
  };
}

/** Starts `concurrency` keep-alive loops against url; stops by itself after maxMs. */
export function startLoad(url: string, concurrency = 16, maxMs = 300_000, tls?: TlsTarget): Load {
  const agent = tls
    ? new https.Agent({
        keepAlive: true,
        maxSockets: concurrency,
        ca: tls.ca,
        servername: tls.servername,
      })
    : new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const get = tls ? https.get : http.get;
  const headers = tls ? { Host: tls.servername } : undefined;
  const samples: Sample[] = [];
  const started = Date.now();
  let running = true;
  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const at = Date.now();
      const req = get(url, { agent, timeout: 10_000, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          let version: string | undefined;
          try {
            version = (JSON.parse(body) as { version?: { image_tag?: string } }).version?.image_tag;
          } catch {
            /* not JSON: counted by status */
          }
          samples.push({ at, ms: performance.now() - t0, status: res.statusCode ?? 0, version });
          resolve();
        });
        res.on('error', (e) => {
          samples.push({ at, ms: performance.now() - t0, status: 0, error: e.message });
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => {
        samples.push({ at, ms: performance.now() - t0, status: 0, error: e.message });
        resolve();
      });
    });
  const loops = Array.from({ length: concurrency }, async () => {
    while (running && Date.now() - started < maxMs) await one();
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return summarize(samples);
    },
  };
}

/**
 * One switch: every response of `from` started before (or within `slackMs` of) the first
 * response of `to`. Requests in flight on the load's connections at the switch can complete in
 * another order than they started, so a few may straddle it; the old version may never come back later.
 */
export function switchedOnce(samples: Sample[], from: string, to: string, slackMs = 300) {
  const first = samples.filter((x) => x.version === to).map((x) => x.at);
  const lastOld = samples.filter((x) => x.version === from).map((x) => x.at);
  const straddle = Math.max(...lastOld) - Math.min(...first);
  if (straddle > 0)
    process.stdout.write(`switch ${from} -> ${to}: requests straddled it for ${straddle} ms\n`);
  return {
    firstIs: samples.find((x) => x.version)?.version,
    oldAfterNewMs: Math.max(straddle, 0) <= slackMs,
  };
}
