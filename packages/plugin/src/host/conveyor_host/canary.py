"""The canary's analysis: its own request counters, scraped from its /metrics (Prometheus text),
judged against the plan's thresholds (5xx ratio, p99 latency) once it has had enough requests.
No data counts as failure: a canary that does not answer, that restarted (its counters went
down) or that had too few requests by the end of a step is never promoted for want of errors."""


from .common import http_get


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
