"""The canary's analysis, judged against the plan's thresholds (5xx ratio, p99 latency) once it
has had enough requests, every interval of every step. Two sources, one rule:

- PromQL on the Prometheus the profile names (plan.canary.prometheus), the way Argo Rollouts and
  Flagger judge a canary: rates over a window of the new colour's requests, selected by the labels
  the monitoring generator gives each colour of each host, beside the stable colour's;
- else the canary's own counters, scraped from its /metrics (Prometheus text).

No data counts as failure: a canary that does not answer (its /metrics, or Prometheus's scrapes
of it), that restarted (its own counters went down), that Prometheus does not answer about, or
that had too few requests by the end of a step is never promoted for want of errors."""

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request

from .common import http_get

REQUESTS = "http_request_duration_seconds"
# The deploy's own health checks are not the app's traffic.
NOT_HEALTH = 'route!="/health"'
FIVE_XX = 'status=~"5.."'


def scrape_counters(port):
    """Requests, 5xx responses and latency buckets from a backend's Prometheus text; None when
    its /metrics does not answer 200 (a canary that does not answer is not one without traffic)."""
    status, body = http_get(port, "/metrics?format=prometheus")
    if status != 200:
        return None
    counts = {"total": 0.0, "errors": 0.0, "buckets": {}}
    for line in body.splitlines():
        if not line.startswith("http_request_duration_seconds_"):
            continue
        name, _, value = line.rpartition(" ")
        labels = dict(part.split("=", 1) for part in name[name.find("{") + 1:name.rfind("}")].replace('"', "").split(",") if "=" in part)
        if labels.get("route") == "/health":
            continue  # the deploy's own health checks are not the app's traffic
        try:
            v = float(value)
        except ValueError:
            continue
        if name.startswith("http_request_duration_seconds_count"):
            counts["total"] += v
            if labels.get("status", "").startswith("5"):
                counts["errors"] += v
        elif name.startswith("http_request_duration_seconds_bucket"):
            le = labels.get("le", "+Inf")
            counts["buckets"][le] = counts["buckets"].get(le, 0.0) + v
    return counts


def no_answer(port):
    return f"does not answer /metrics on port {port}"


def judge(before, after, spec, port=None, last=None, step_start=None, step_over=False):
    """None when the canary is healthy so far, else what is wrong (query, value, threshold), worded
    to follow "canary ". before: the counters when the analysis started; after: now (None: no
    answer); last: the scrape before this one, step_start: when this step started (both default
    to before). Counters only grow: lower ones mean the canary restarted, and what it answered
    before (errors too) is no longer in them. Fewer than min_requests requests are not judged
    while the step runs, and fail once it is over (step_over): a canary that requests do not
    reach has shown nothing, and it would take all of them at the last step."""
    if after is None:
        return no_answer(port)
    last = last or before
    if after["total"] < last["total"] or after["errors"] < last["errors"]:
        return (f"counters went down since the last scrape ({int(last['total'])} requests, {int(last['errors'])} 5xx; "
                f"now {int(after['total'])}, {int(after['errors'])}): it restarted, and what it answered before is no longer counted")
    minimum = spec.get("min_requests", 5)
    verdict = judge_thresholds(before, after, spec) if after["total"] - before["total"] >= minimum else None
    in_step = after["total"] - (step_start or before)["total"]
    if verdict is None and step_over and in_step < minimum:
        return f"had only {int(in_step)} requests in this step, fewer than min_requests {minimum} (no data counts as failure)"
    return verdict


def judge_thresholds(before, after, spec):
    """The 5xx ratio and the p99 bucket of the requests since before (at least one)."""
    total = after["total"] - before["total"]
    errors = after["errors"] - before["errors"]
    ratio = errors / total
    if ratio > spec["max_error_ratio"]:
        return f"5xx ratio {ratio:.3f} > {spec['max_error_ratio']} (5xx responses / requests of the canary, {int(errors)}/{int(total)})"
    buckets = sorted(((float("inf") if le == "+Inf" else float(le), c - before["buckets"].get(le, 0.0)) for le, c in after["buckets"].items()))
    for le, count in buckets:
        if count >= 0.99 * total:
            if le > spec["max_p99"]:
                return f"p99 latency {le}s > {spec['max_p99']}s (histogram bucket holding 99% of the canary's requests)"
            break
    return None


# -- the analysis of one canary, from either source


class OwnCounters:
    """The canary's own /metrics counters (judge above), compared with those when it started."""

    def __init__(self, spec, port):
        self.spec, self.port = spec, port
        self.before = self.last = self.step_start = None

    def describe(self):
        return "the canary's own /metrics counters (no canary_prometheus in the profile)"

    def start(self):
        self.before = self.last = scrape_counters(self.port)
        return no_answer(self.port) if self.before is None else None

    def begin_step(self):
        self.step_start = self.last

    def check(self, step_over):
        after = scrape_counters(self.port)
        verdict = judge(self.before, after, self.spec, self.port, self.last, self.step_start, step_over)
        self.last = after
        return verdict


class PrometheusError(Exception):
    pass


def prometheus_value(url, expr, timeout=5):
    """The value of a PromQL expression that sums to one sample: a float, or None when the result
    is empty (no series) or not a number (0/0). Raises PrometheusError naming the query when
    Prometheus does not answer or refuses it."""
    query = f"{url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    try:
        with urllib.request.urlopen(query, timeout=timeout) as r:
            body = json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        try:
            detail = json.loads(e.read().decode()).get("error", "")
        except ValueError:
            detail = ""
        raise PrometheusError(f"Prometheus at {url} refused {expr}: HTTP {e.code} {detail}".rstrip()) from e
    except (OSError, ValueError) as e:
        raise PrometheusError(f"Prometheus at {url} does not answer ({e})") from e
    result = body.get("data", {}).get("result", []) if body.get("status") == "success" else None
    if result is None:
        raise PrometheusError(f"Prometheus at {url} could not run {expr}: {body.get('error', body)}")
    if not result:
        return None
    value = float(result[0]["value"][1])
    return None if math.isnan(value) else value


class PromQL:
    """The canary judged on Prometheus (plan.canary.prometheus: url, window in seconds, selector
    of this host's colours): its 5xx ratio and p99 latency over the window, each against the
    threshold and the stable colour's own value (a canary is not blamed for what the stable
    release does as well), once it had min_requests requests in the window. Prometheus must have
    scraped it since it started (up is 1); a failed scrape afterwards (up 0: it died, it restarts)
    fails the analysis, as does a restart seen in its process start time, or a Prometheus that
    does not answer."""

    def __init__(self, spec, new_color, old_color, wait_for_scrape=60):
        self.spec = spec
        self.prom = spec["prometheus"]
        self.new, self.old = new_color, old_color
        self.wait_for_scrape = wait_for_scrape
        self.step_started = self.started = None

    def describe(self):
        p = self.prom
        return f"PromQL on {p['url']} over {p['window']}s ({{{p['selector']}}}, color {self.new} against {self.old})"

    def sel(self, color, *more):
        return "{" + ",".join([self.prom["selector"], f'color="{color}"', *more]) + "}"

    def value(self, expr):
        return prometheus_value(self.prom["url"], expr)

    def up(self):
        return self.value(f"max(up{self.sel(self.new)})")

    def started_at(self):
        """When the new colour's process started (prom-client's default process metrics; None
        without them): a new value means it restarted, between two scrapes or not."""
        return self.value(f"max(process_start_time_seconds{self.sel(self.new)})")

    def start(self):
        """Waits (a scrape interval or two) until Prometheus has scraped the new colour since the
        analysis began: its last scrape before that found the colour stopped, or found the
        process this release replaced (the same ports, still draining)."""
        began = time.time()
        deadline = time.monotonic() + self.wait_for_scrape
        try:
            while True:
                scraped = self.value(f"max(timestamp(up{self.sel(self.new)}))")
                if scraped is not None and scraped >= began and self.up() == 1:
                    self.started = self.started_at()
                    return None
                if time.monotonic() >= deadline:
                    return (f"is not scraped by Prometheus: no up{self.sel(self.new)} of 1 since it began, after "
                            f"{self.wait_for_scrape}s (is the monitoring generator's colour job on {self.prom['url']}?)")
                time.sleep(0.5)
        except PrometheusError as e:
            return str(e)

    def begin_step(self):
        self.step_started = time.monotonic()

    def rates(self, color, window):
        count, bucket = f"{REQUESTS}_count", f"{REQUESTS}_bucket"
        requests = self.value(f"sum(increase({count}{self.sel(color, NOT_HEALTH)}[{window}s]))")
        ratio = self.value(
            f'(sum(rate({count}{self.sel(color, NOT_HEALTH, FIVE_XX)}[{window}s])) or vector(0))'
            f" / sum(rate({count}{self.sel(color, NOT_HEALTH)}[{window}s]))")
        p99 = self.value(f"histogram_quantile(0.99, sum by (le) (rate({bucket}{self.sel(color, NOT_HEALTH)}[{window}s])))")
        return requests or 0.0, ratio, p99

    def check(self, step_over):
        window = self.prom["window"]
        minimum = self.spec.get("min_requests", 5)
        try:
            if self.up() != 1:
                return f"does not answer Prometheus's scrapes: up{self.sel(self.new)} is 0 (it stopped or restarted)"
            started = self.started_at()
            if self.started is not None and started != self.started:
                return (f"restarted: process_start_time_seconds{self.sel(self.new)} went from {self.started:.0f} to "
                        f"{started if started is None else round(started)}; what it answered before is not in its counters")
            requests, ratio, p99 = self.rates(self.new, window)
            if requests >= minimum:
                _, stable_ratio, stable_p99 = self.rates(self.old, window)
                verdict = self.compare("5xx ratio", ratio, stable_ratio, self.spec["max_error_ratio"], "", window)
                verdict = verdict or self.compare("p99 latency", p99, stable_p99, self.spec["max_p99"], "s", window)
                if verdict:
                    return verdict
            if step_over:
                # The requests of this step alone (its whole pause, rounded up to a second).
                seconds = max(1, math.ceil(time.monotonic() - (self.step_started or time.monotonic())))
                in_step = self.value(f"sum(increase({REQUESTS}_count{self.sel(self.new, NOT_HEALTH)}[{seconds}s]))") or 0.0
                if in_step < minimum:
                    return (f"had only {in_step:.0f} requests in this step (Prometheus, last {seconds}s), fewer than "
                            f"min_requests {minimum} (no data counts as failure)")
        except PrometheusError as e:
            return str(e)
        return None

    def compare(self, what, value, stable, threshold, unit, window):
        if value is None or value <= threshold or (stable is not None and value <= stable):
            return None
        beside = f"stable {self.old}: {stable:.3f}{unit}" if stable is not None else f"stable {self.old}: no data"
        return f"{what} {value:.3f}{unit} > {threshold}{unit} (PromQL over {window}s, colour {self.new}; {beside})"


def analysis_for(spec, new_color, old_color, port):
    """The source the plan names: PromQL when it gives a Prometheus, else the canary's counters."""
    return PromQL(spec, new_color, old_color) if spec.get("prometheus") else OwnCounters(spec, port)
