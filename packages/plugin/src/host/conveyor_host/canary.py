"""The canary's analysis: its own request counters, scraped from its /metrics (Prometheus text),
judged against the plan's thresholds (5xx ratio, p99 latency) once it has had enough requests."""


from .common import http_get


def scrape_counters(port):
    """Requests, 5xx responses and latency buckets from a backend's Prometheus text."""
    status, body = http_get(port, "/metrics?format=prometheus")
    counts = {"total": 0.0, "errors": 0.0, "buckets": {}}
    if status != 200:
        return counts
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


def judge(before, after, spec):
    """None when the canary is healthy so far, else what is wrong (query, value, threshold)."""
    total = after["total"] - before["total"]
    if total < spec.get("min_requests", 5):
        return None
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
