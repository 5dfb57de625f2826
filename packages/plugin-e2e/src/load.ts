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
  /**
   * Retry, once, a request whose reused keep-alive connection the server closed before any
   * response (what browsers and Go's client do, RFC 9112 9.3.1; Node's http docs advise it for
   * `reusedSocket`). Counted in `retried`, never hidden: a request that fails again is failed.
   */
  retryClosedKeepAlive?: boolean;
}

export interface Sample {
  at: number;
  ms: number;
  status: number;
  version?: string;
  error?: string;
  /** Sent again on a new connection after its reused one was closed before any response. */
  retried?: boolean;
}

export interface LoadStats {
  requests: number;
  failed: number;
  errors: number;
  non2xx: number;
  /** Requests sent again after the server closed their idle keep-alive connection (not failed). */
  retried: number;
  /** The distinct errors and statuses of failed requests, with their counts. */
  failures: Record<string, number>;
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
  const failures: Record<string, number> = {};
  for (const s of window)
    if (s.error || s.status < 200 || s.status > 299) {
      const key = s.error ?? `HTTP ${s.status}`;
      failures[key] = (failures[key] ?? 0) + 1;
    }
  return {
    requests: window.length,
    failed: errors + non2xx,
    errors,
    non2xx,
    retried: window.filter((s) => s.retried).length,
    failures,
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
  // A request sent again goes on a new connection of its own, not on another pooled one.
  const fresh = tls
    ? new https.Agent({ keepAlive: false, ca: tls.ca, servername: tls.servername })
    : undefined;
  const get = tls ? https.get : http.get;
  const headers = tls ? { Host: tls.servername } : undefined;
  const samples: Sample[] = [];
  const started = Date.now();
  let running = true;
  const one = (retry = false) =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const at = Date.now();
      let answered = false;
      const req = get(url, { agent: retry ? fresh : agent, timeout: 10_000, headers }, (res) => {
        answered = true;
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
          samples.push({
            at,
            ms: performance.now() - t0,
            status: res.statusCode ?? 0,
            version,
            ...(retry ? { retried: true } : {}),
          });
          resolve();
        });
        res.on('error', (e) => {
          samples.push({ at, ms: performance.now() - t0, status: 0, error: e.message });
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e: NodeJS.ErrnoException) => {
        const closed = e.code === 'ECONNRESET' || e.message === 'socket hang up';
        if (tls?.retryClosedKeepAlive && !retry && !answered && req.reusedSocket && closed) {
          void one(true).then(resolve);
          return;
        }
        const how = [req.reusedSocket ? 'reused' : 'new', ...(retry ? ['sent again'] : [])];
        samples.push({
          at,
          ms: performance.now() - t0,
          status: 0,
          error: `${e.message} (${how.join(', ')} connection)`,
        });
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
      fresh?.destroy();
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
