"""canary: the canary's counters scraped from its Prometheus text, and judged (5xx ratio, p99,
minimum requests) on what changed since the canary started; no answer, a restart and too few
requests by the end of a step fail."""
import json
import math
import time
import unittest

from conveyor_host.canary import (OwnCounters, PromQL, PrometheusError, analysis_for, judge, prometheus_value,
                                  scrape_counters)
from tests.support import FakeHttp, free_port

SPEC = {"max_error_ratio": 0.05, "max_p99": 0.5, "min_requests": 5}


def counts(total, errors=0, buckets=None):
    return {"total": float(total), "errors": float(errors), "buckets": dict(buckets or {})}


ZERO = counts(0, 0, {"0.1": 0, "0.5": 0, "1": 0, "+Inf": 0})


class JudgeTest(unittest.TestCase):
    def test_healthy(self):
        after = counts(100, 2, {"0.1": 90, "0.5": 100, "1": 100, "+Inf": 100})
        self.assertIsNone(judge(ZERO, after, SPEC))

    def test_too_many_5xx(self):
        after = counts(10, 2, {"0.1": 10, "+Inf": 10})
        self.assertEqual(judge(ZERO, after, SPEC),
                         "5xx ratio 0.200 > 0.05 (5xx responses / requests of the canary, 2/10)")

    def test_a_ratio_at_the_threshold_passes(self):
        self.assertIsNone(judge(ZERO, counts(100, 5, {"0.1": 100}), SPEC))
        self.assertIsNotNone(judge(ZERO, counts(100, 6, {"0.1": 100}), SPEC))

    def test_only_what_changed_since_the_start_counts(self):
        before = counts(1000, 100, {"0.1": 1000, "+Inf": 1000})  # the colour's earlier errors
        after = counts(1100, 100, {"0.1": 1100, "+Inf": 1100})
        self.assertIsNone(judge(before, after, SPEC))
        after_bad = counts(1010, 105, {"0.1": 1010, "+Inf": 1010})
        self.assertEqual(judge(before, after_bad, SPEC),
                         "5xx ratio 0.500 > 0.05 (5xx responses / requests of the canary, 5/10)")

    def test_too_slow_names_the_bucket_holding_99_percent(self):
        after = counts(100, 0, {"0.1": 50, "0.5": 98, "1": 100, "+Inf": 100})
        self.assertEqual(judge(ZERO, after, SPEC),
                         "p99 latency 1.0s > 0.5s (histogram bucket holding 99% of the canary's requests)")

    def test_99_percent_within_the_threshold_bucket_passes(self):
        after = counts(100, 0, {"0.1": 50, "0.5": 99, "1": 100, "+Inf": 100})
        self.assertIsNone(judge(ZERO, after, SPEC))

    def test_only_the_infinite_bucket_holding_99_percent_is_too_slow(self):
        after = counts(100, 0, {"0.1": 10, "0.5": 50, "+Inf": 100})
        self.assertEqual(judge(ZERO, after, SPEC),
                         "p99 latency infs > 0.5s (histogram bucket holding 99% of the canary's requests)")

    def test_no_histogram_judges_the_ratio_only(self):
        self.assertIsNone(judge(ZERO, counts(100, 0, {}), SPEC))

    def test_fewer_requests_than_the_minimum_are_not_judged(self):
        self.assertIsNone(judge(ZERO, counts(4, 4, {"+Inf": 4}), SPEC))
        self.assertIsNotNone(judge(ZERO, counts(5, 5, {"+Inf": 5}), SPEC))

    def test_the_minimum_defaults_to_5(self):
        spec = {"max_error_ratio": 0.05, "max_p99": 0.5}
        self.assertIsNone(judge(ZERO, counts(4, 4), spec))
        self.assertIsNotNone(judge(ZERO, counts(5, 5), spec))

    def test_a_canary_that_requests_do_not_reach_fails_when_its_step_is_over(self):
        # No data counts as failure: while the step runs it is not judged yet; at its end, a canary
        # that no request (or too few) reached has shown nothing and is not promoted.
        before = counts(30, 0, {"0.1": 30, "+Inf": 30})
        self.assertIsNone(judge(before, before, SPEC))
        self.assertEqual(judge(before, before, SPEC, step_over=True),
                         "had only 0 requests in this step, fewer than min_requests 5 (no data counts as failure)")
        self.assertEqual(judge(ZERO, counts(4, 0, {"0.1": 4}), SPEC, step_over=True),
                         "had only 4 requests in this step, fewer than min_requests 5 (no data counts as failure)")
        self.assertIsNone(judge(ZERO, counts(5, 0, {"0.1": 5}), SPEC, step_over=True))

    def test_the_requests_of_this_step_count_at_its_end(self):
        # A first step with traffic does not carry a second one that no request reached.
        step_start = counts(100, 0, {"0.1": 100, "+Inf": 100})
        after = counts(103, 0, {"0.1": 103, "+Inf": 103})
        self.assertIsNone(judge(ZERO, after, SPEC, last=step_start, step_start=step_start))
        self.assertEqual(judge(ZERO, after, SPEC, last=step_start, step_start=step_start, step_over=True),
                         "had only 3 requests in this step, fewer than min_requests 5 (no data counts as failure)")

    def test_a_threshold_crossed_is_named_before_too_few_requests(self):
        after = counts(10, 2, {"0.1": 10, "+Inf": 10})
        self.assertEqual(judge(ZERO, after, SPEC, last=after, step_start=after, step_over=True),
                         "5xx ratio 0.200 > 0.05 (5xx responses / requests of the canary, 2/10)")

    def test_a_dead_canary_fails(self):
        # A dead canary's /metrics does not answer: no counters at all, not counters of zero.
        before = counts(200, 1, {"0.1": 190, "+Inf": 200})
        port = free_port()
        dead = scrape_counters(port)
        self.assertIsNone(dead)
        self.assertEqual(judge(before, dead, SPEC, port), f"does not answer /metrics on port {port}")

    def test_counters_that_went_down_fail(self):
        # A canary restarted mid-analysis starts its counters again from 0: the errors it answered
        # before are gone from them, and those after the restart would be unseen for a while.
        before = counts(200, 0, {"0.1": 200, "+Inf": 200})
        restarted = counts(50, 50, {"0.1": 50, "+Inf": 50})
        self.assertEqual(judge(before, restarted, SPEC),
                         "counters went down since the last scrape (200 requests, 0 5xx; now 50, 50): it restarted, "
                         "and what it answered before is no longer counted")

    def test_a_restart_is_seen_against_the_last_scrape_even_above_the_start(self):
        # A fresh canary starts near 0: after a restart its totals are soon above those at the start.
        last = counts(300, 0, {"0.1": 300, "+Inf": 300})
        restarted = counts(20, 0, {"0.1": 20, "+Inf": 20})
        self.assertIsNone(judge(ZERO, last, SPEC))
        self.assertIn("counters went down since the last scrape (300 requests", judge(ZERO, restarted, SPEC, last=last))


PROMETHEUS = """\
# HELP http_request_duration_seconds Duration of HTTP requests in seconds
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.1",method="GET",route="/api/items",status="200"} 40
http_request_duration_seconds_bucket{le="0.5",method="GET",route="/api/items",status="200"} 41
http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/api/items",status="200"} 42
http_request_duration_seconds_sum{method="GET",route="/api/items",status="200"} 3.2
http_request_duration_seconds_count{method="GET",route="/api/items",status="200"} 42
http_request_duration_seconds_bucket{le="0.1",method="POST",route="/api/items",status="503"} 1
http_request_duration_seconds_bucket{le="0.5",method="POST",route="/api/items",status="503"} 3
http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/api/items",status="503"} 3
http_request_duration_seconds_count{method="POST",route="/api/items",status="503"} 3
http_request_duration_seconds_count{method="GET",route="/api/items",status="404"} 5
http_request_duration_seconds_bucket{le="0.1",method="GET",route="/health",status="200"} 1000
http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/health",status="200"} 1000
http_request_duration_seconds_count{method="GET",route="/health",status="500"} 7
http_request_duration_seconds_count{method="GET",route="/broken",status="200"} not-a-number
process_cpu_seconds_total 12.5
app_info{version="v2"} 1
"""


class ScrapeTest(unittest.TestCase):
    def serve(self, status, body):
        server = FakeHttp(lambda path: (status, body))
        self.addCleanup(server.close)
        return server

    def test_requests_errors_and_buckets_of_the_apps_traffic(self):
        server = self.serve(200, PROMETHEUS)
        c = scrape_counters(server.port)
        self.assertEqual(server.paths, ["/metrics?format=prometheus"])
        self.assertEqual(c["total"], 50.0)   # 42 + 3 + 5; /health and the unreadable line left out
        self.assertEqual(c["errors"], 3.0)   # 5xx only: a 404 is the client's
        self.assertEqual(c["buckets"], {"0.1": 41.0, "0.5": 44.0, "+Inf": 45.0})

    def test_a_page_that_does_not_answer_200_is_no_answer(self):
        self.assertIsNone(scrape_counters(self.serve(503, PROMETHEUS).port))
        self.assertIsNone(scrape_counters(free_port()))

    def test_an_empty_page_counts_nothing(self):
        self.assertEqual(scrape_counters(self.serve(200, "").port), counts(0))

    def test_a_nan_value_is_added_as_it_is(self):
        c = scrape_counters(self.serve(200, 'http_request_duration_seconds_count{route="/x",status="200"} NaN\n').port)
        self.assertTrue(math.isnan(c["total"]))


if __name__ == "__main__":
    unittest.main()


class PromQLTest(unittest.TestCase):
    """The canary judged on Prometheus: each query the analysis sends is answered by a small HTTP
    server speaking Prometheus's query API, from what the test says each colour did."""

    SELECTOR = 'job="shop-colors",app="shop",env="staging",host="staging-1"'

    def setUp(self):
        # Per colour: up, requests in the window, 5xx ratio, p99 (None: no series).
        self.colors = {"green": dict(up=1, requests=100, ratio=0.0, p99=0.1, started=1000.0),
                       "blue": dict(up=1, requests=900, ratio=0.0, p99=0.1, started=500.0)}
        self.queries = []
        self.prom = FakeHttp(self.answer)
        self.addCleanup(self.prom.close)

    def answer(self, path):
        from urllib.parse import parse_qs, urlparse
        expr = parse_qs(urlparse(path).query)["query"][0]
        self.queries.append(expr)
        if "bad(" in expr:
            return 400, json.dumps({"status": "error", "error": "parse error: unknown function bad"})
        color = "green" if 'color="green"' in expr else "blue"
        c = self.colors[color]
        if expr.startswith("max(timestamp(up"):
            value = time.time() + c.get("scraped_in", 0.5) if c["up"] is not None else None
        elif expr.startswith("max(up"):
            value = c["up"]
        elif expr.startswith("max(process_start_time_seconds"):
            value = c["started"]
        elif expr.startswith("histogram_quantile"):
            value = c["p99"]
        elif "vector(0)" in expr:
            value = c["ratio"]
        else:
            value = c["requests"]
        result = [] if value is None else [{"metric": {}, "value": [1.0, str(value)]}]
        return 200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})

    def analysis(self, **spec):
        full = {**SPEC, "prometheus": {"url": f"http://127.0.0.1:{self.prom.port}", "window": 10, "selector": self.SELECTOR}}
        full.update(spec)
        a = analysis_for(full, "green", "blue", port=1)
        a.wait_for_scrape = 1
        a.begin_step()
        return a

    def test_the_plan_names_the_source(self):
        self.assertIsInstance(self.analysis(), PromQL)
        self.assertIsInstance(analysis_for(SPEC, "green", "blue", port=1), OwnCounters)

    def test_a_healthy_canary_passes_and_every_query_selects_its_host_and_colour(self):
        a = self.analysis()
        self.assertIsNone(a.start())
        self.assertIsNone(a.check(step_over=True))
        green = [q for q in self.queries if 'color="green"' in q]
        self.assertTrue(green)
        self.assertTrue(all(self.SELECTOR in q for q in self.queries))
        self.assertTrue(any("[10s]" in q and 'route!="/health"' in q for q in green))

    def test_a_canary_over_the_5xx_threshold_fails_beside_the_stable_value(self):
        self.colors["green"]["ratio"] = 0.3
        self.colors["blue"]["ratio"] = 0.01
        self.assertEqual(self.analysis().check(step_over=False),
                         "5xx ratio 0.300 > 0.05 (PromQL over 10s, colour green; stable blue: 0.010)")

    def test_a_canary_no_worse_than_the_stable_colour_is_not_blamed(self):
        self.colors["green"]["ratio"] = 0.3
        self.colors["blue"]["ratio"] = 0.4
        self.assertIsNone(self.analysis().check(step_over=False))

    def test_a_slow_canary_fails_on_p99(self):
        self.colors["green"]["p99"] = 2.5
        self.assertEqual(self.analysis().check(step_over=False),
                         "p99 latency 2.500s > 0.5s (PromQL over 10s, colour green; stable blue: 0.100s)")

    def test_a_canary_prometheus_cannot_scrape_fails(self):
        self.colors["green"]["up"] = 0
        self.assertEqual(self.analysis().check(step_over=False),
                         f"does not answer Prometheus's scrapes: up{{{self.SELECTOR},color=\"green\"}} is 0 (it stopped or restarted)")

    def test_a_canary_that_restarted_between_two_scrapes_fails(self):
        a = self.analysis()
        self.assertIsNone(a.start())
        self.colors["green"]["started"] = 1042.4
        self.assertEqual(a.check(step_over=False),
                         f"restarted: process_start_time_seconds{{{self.SELECTOR},color=\"green\"}} went from 1000 to 1042; "
                         "what it answered before is not in its counters")

    def test_without_process_metrics_a_restart_is_left_to_up(self):
        self.colors["green"]["started"] = None
        a = self.analysis()
        self.assertIsNone(a.start())
        self.assertIsNone(a.check(step_over=False))

    def test_too_few_requests_are_not_judged_while_the_step_runs_and_fail_at_its_end(self):
        self.colors["green"].update(requests=2, ratio=1.0)
        a = self.analysis()
        self.assertIsNone(a.check(step_over=False))
        self.assertRegex(a.check(step_over=True),
                         r"^had only 2 requests in this step \(Prometheus, last 1s\), fewer than min_requests 5")

    def test_no_series_counts_as_no_data(self):
        self.colors["green"].update(requests=None, ratio=None, p99=None)
        self.assertRegex(self.analysis().check(step_over=True), r"^had only 0 requests in this step")

    def test_start_waits_for_a_scrape_of_the_new_colour(self):
        self.colors["green"]["up"] = 0
        a = self.analysis()
        self.assertRegex(a.start(), r"^is not scraped by Prometheus: no up\{.*color=\"green\"\} of 1 since it began, after 1s")
        self.colors["green"]["up"] = 1
        self.assertIsNone(a.start())

    def test_a_scrape_from_before_the_analysis_is_not_the_canary(self):
        # Its last scrape found the process this release replaced, up and with its start time.
        self.colors["green"]["scraped_in"] = -5
        self.assertRegex(self.analysis().start(), r"^is not scraped by Prometheus")

    def test_a_prometheus_that_does_not_answer_fails_the_analysis(self):
        a = self.analysis()
        self.prom.close()
        self.assertRegex(a.check(step_over=False), rf"^Prometheus at http://127.0.0.1:{self.prom.port} does not answer")

    def test_a_refused_query_names_the_query_and_prometheus_error(self):
        url = f"http://127.0.0.1:{self.prom.port}"
        with self.assertRaisesRegex(PrometheusError, r"refused bad\(x\): HTTP 400 parse error: unknown function bad"):
            prometheus_value(url, "bad(x)")
