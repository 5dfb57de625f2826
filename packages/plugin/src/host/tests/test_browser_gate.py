"""gate.e2e: the release waits before its switch for the browser tests' verdict the deploy writes."""
import os
import threading

from conveyor_host.common import Failure
from conveyor_host.release import browser_gate, write_browser_verdict

from .support import AppTestCase, captured


class BrowserGateTest(AppTestCase):
    def plan(self, timeout=5):
        os.makedirs(self.paths.runs, exist_ok=True)
        return {"run_id": "r1", "target": {"tag": "v2"}, "browser_gate": {"timeout": timeout}}

    def verdict_later(self, verdict):
        t = threading.Timer(0.3, lambda: write_browser_verdict(self.app, "r1", verdict))
        t.start()
        self.addCleanup(t.cancel)

    def test_a_pass_lets_the_release_go_on(self):
        plan = self.plan()
        self.verdict_later("pass")
        _, events, _ = captured(browser_gate, plan, self.paths, {"backend": 28001, "frontend": 28002})
        self.assertEqual(events[0], {"event": "browser-gate", "port": 28002, "tag": "v2"})
        self.assertFalse(os.path.exists(os.path.join(self.paths.runs, "r1.browser-gate")))

    def test_a_failure_stops_it_before_the_switch_with_the_reason(self):
        plan = self.plan()
        self.verdict_later("fail 1 failed: the page shows v1")
        with self.assertRaises(Failure) as raised:
            captured(browser_gate, plan, self.paths, {"backend": 28001, "frontend": 28002})
        self.assertEqual(raised.exception.phase, "gate")
        self.assertIn("the page shows v1", str(raised.exception))

    def test_no_verdict_in_time_fails(self):
        plan = self.plan(timeout=0.5)
        with self.assertRaises(Failure) as raised:
            captured(browser_gate, plan, self.paths, {"backend": 28001, "frontend": 28002})
        self.assertIn("no browser test verdict within", str(raised.exception))

    def test_without_the_gate_or_a_frontend_nothing_waits(self):
        _, events, _ = captured(browser_gate, {"run_id": "r1", "target": {"tag": "v2"}}, self.paths, {"frontend": 1})
        _, more, _ = captured(browser_gate, self.plan(), self.paths, {"backend": 28001})
        self.assertEqual(events + more, [])

    def test_a_run_id_is_only_a_name(self):
        code, events, _ = captured(write_browser_verdict, self.app, "../x", "pass")
        self.assertEqual(code, 1)
        self.assertIn("not a run id", events[0]["error"])
