"""runs: the plan read and checked, a release detached from the caller's connection with its log,
`follow` reading a run's log until its result, old run logs pruned."""
import io
import json
import os
import subprocess
import time
import unittest.mock

from conveyor_host.runs import follow, load_plan, prune_runs
from tests.support import AppTestCase, captured, helper, plan_for, stop


class PlanTest(AppTestCase):
    def test_a_plan_file(self):
        path = self.write(os.path.join(self.tmp.name, "p.json"), json.dumps({"version": 1, "app": "shop"}))
        self.assertEqual(load_plan(path), {"version": 1, "app": "shop"})

    def test_a_plan_on_stdin(self):
        with unittest.mock.patch("sys.stdin", io.StringIO('{"version": 1, "app": "shop"}')):
            self.assertEqual(load_plan("-")["app"], "shop")

    def test_anything_else_is_refused_by_name(self):
        for text in ('{"version": 2}', "[]", "not json"):
            path = self.write(os.path.join(self.tmp.name, "p.json"), text)
            with self.assertRaises(SystemExit) as refused:
                load_plan(path)
            self.assertEqual(str(refused.exception), f"{path}: not a Conveyor release plan (version 1)")
        with unittest.mock.patch("sys.stdin", io.StringIO("")), self.assertRaises(SystemExit):
            load_plan("-")


class FollowTest(AppTestCase):
    def test_prints_the_runs_lines_until_its_result(self):
        log = self.write(os.path.join(self.paths.runs, "r1.log"),
                         '{"event": "phase", "phase": "pull"}\n{"event": "result", "status": "ok"}\n{"event": "after"}\n')
        code, events, _ = captured(follow, self.app, "r1", 5)
        self.assertEqual(code, 0)
        self.assertEqual([e["event"] for e in events], ["phase", "result"])
        self.assertTrue(os.path.exists(log))

    def test_a_run_without_a_log_within_the_wait(self):
        started = time.monotonic()
        code, events, _ = captured(follow, self.app, "r404", 0.3)
        self.assertEqual((code, events), (1, []))
        self.assertGreaterEqual(time.monotonic() - started, 0.3)

    def test_a_run_without_a_result_within_the_wait(self):
        self.write(os.path.join(self.paths.runs, "r1.log"), '{"event": "phase", "phase": "gate"}\n')
        code, events, _ = captured(follow, self.app, "r1", 0.3)
        self.assertEqual((code, [e["event"] for e in events]), (1, ["phase"]))

    def test_prune_keeps_the_20_newest_logs(self):
        for i in range(25):
            path = self.write(os.path.join(self.paths.runs, f"r{i}.log"), "")
            os.utime(path, (1000 + i, 1000 + i))
        prune_runs(self.paths)
        self.assertEqual(sorted(os.listdir(self.paths.runs), key=lambda n: int(n[1:-4])), [f"r{i}.log" for i in range(5, 25)])


class DetachedReleaseTest(AppTestCase):
    """`release` from the sources: the worker is this program started again in a session of its
    own; the caller prints its log as it grows."""

    def test_the_worker_runs_the_plan_writes_its_log_and_removes_the_plan(self):
        plan = plan_for(self.app, expect_live="v0")
        path = self.write(os.path.join(self.paths.runs, "r1.plan.json"), json.dumps(plan))
        p = helper("release", path, stdin=subprocess.PIPE)
        self.addCleanup(stop, p)
        out, err = p.communicate("{}", timeout=30)
        self.assertEqual(p.returncode, 1, err)
        result = json.loads(out.splitlines()[-1])
        self.assertEqual((result["status"], result["error"]),
                         ("failed", "the live release is none, not v0 as planned: run the command again"))
        with open(os.path.join(self.paths.runs, "r1.log")) as f:
            self.assertEqual(f.read(), out)
        self.assertFalse(os.path.exists(path))
        with open(os.path.join(self.paths.state_dir, "engine.json")) as f:
            self.assertEqual(json.load(f), {"engine_command": "false", "compose_command": "false", "components": ["backend"]})
