"""runs: the plan read and checked, a release detached from the caller's connection with its log,
`follow` reading a run's log until its result, old run logs pruned."""
import io
import json
import os
import stat
import subprocess
import time
import unittest.mock

from conveyor_host import runs
from conveyor_host.runs import follow, load_plan, prune_runs, Watch
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


class BundleReleaseTest(AppTestCase):
    """release-bundle: one SSH command carries the run's files and the login to a current helper."""

    def bundle(self, **extra):
        plan = os.path.join(self.paths.runs, "r1.plan.json")
        return {
            "plan": plan,
            "files": [
                {"path": plan, "content": '{"version": 1}', "mode": "600"},
                {"path": os.path.join(self.app, "blue", "docker-compose.override.yml"), "content": "services: {}\n"},
            ],
            "remove": [os.path.join(self.app, "green", "docker-compose.override.yml")],
            "auth": {"user": "ci", "password": "pw", "secrets": {"API_KEY": "k"}},
            **extra,
        }

    def run_bundle(self, expected, bundle, archive_hash):
        stdin = io.StringIO(json.dumps(bundle))
        with unittest.mock.patch("conveyor_host.runs.file_sha256", return_value=archive_hash), \
                unittest.mock.patch("sys.stdin", stdin), \
                unittest.mock.patch("conveyor_host.runs.detached_release", return_value=0) as release:
            code, events, _ = captured(runs.bundle_release, expected)
        return code, events, release, stdin

    def test_another_helper_version_reads_and_writes_nothing(self):
        stale = self.write(os.path.join(self.app, "green", "docker-compose.override.yml"), "old\n")
        code, events, release, stdin = self.run_bundle("sha256:new", self.bundle(), "sha256:old")
        self.assertEqual(code, 75)
        self.assertEqual(events, [{"event": "result", "status": "outdated", "have": "sha256:old", "want": "sha256:new"}])
        release.assert_not_called()
        self.assertEqual(stdin.tell(), 0)
        self.assertTrue(os.path.exists(stale))
        self.assertFalse(os.path.exists(os.path.join(self.paths.runs, "r1.plan.json")))

    def test_a_current_helper_writes_the_files_removes_the_stale_and_runs_the_plan_with_the_login(self):
        stale = self.write(os.path.join(self.app, "green", "docker-compose.override.yml"), "old\n")
        code, _, release, _ = self.run_bundle("sha256:same", self.bundle(), "sha256:same")
        self.assertEqual(code, 0)
        plan = os.path.join(self.paths.runs, "r1.plan.json")
        release.assert_called_once_with(plan, {"user": "ci", "password": "pw", "secrets": {"API_KEY": "k"}})
        with open(plan) as f:
            self.assertEqual(f.read(), '{"version": 1}')
        self.assertEqual(stat.S_IMODE(os.stat(plan).st_mode), 0o600)
        override = os.path.join(self.app, "blue", "docker-compose.override.yml")
        self.assertEqual(stat.S_IMODE(os.stat(override).st_mode), 0o640)
        self.assertFalse(os.path.exists(stale))

    def test_anything_but_a_bundle_is_refused_by_name(self):
        with unittest.mock.patch("conveyor_host.runs.file_sha256", return_value="sha256:x"), \
                unittest.mock.patch("sys.stdin", io.StringIO("[1]")), self.assertRaises(SystemExit) as refused:
            runs.bundle_release("sha256:x")
        self.assertIn("not a Conveyor release bundle", str(refused.exception))



class WatchTest(AppTestCase):
    """A canary is watched by its deploy: a caller gone aborts it; other releases go on."""

    def closed_stream(self):
        r, w = os.pipe()
        os.close(r)
        stream = os.fdopen(w, "w")
        self.addCleanup(self.close_quietly, stream)
        return stream

    @staticmethod
    def close_quietly(stream):
        try:
            stream.close()
        except OSError:
            pass

    def test_a_canary_whose_caller_is_gone_is_asked_to_abort_naming_who(self):
        watch = Watch(self.paths, plan_for(self.app, strategy="blue-green", canary={"steps": [10]}), every=0)
        watch.beat(self.closed_stream())
        with open(os.path.join(self.paths.state_dir, "abort")) as f:
            self.assertRegex(f.read(), r"^\d{4}-\S+Z anna \(its deploy's connection closed: Ctrl-C, or a cut\)\n$")

    def test_a_caller_still_there_aborts_nothing(self):
        watch = Watch(self.paths, plan_for(self.app, strategy="blue-green", canary={"steps": [10]}), every=0)
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        with os.fdopen(w, "w") as stream:
            watch.beat(stream)
        self.assertFalse(os.path.exists(os.path.join(self.paths.state_dir, "abort")))

    def test_a_release_without_a_canary_goes_on_without_its_caller(self):
        watch = Watch(self.paths, plan_for(self.app, strategy="blue-green"), every=0)
        watch.beat(self.closed_stream())
        watch.caller_gone()
        self.assertFalse(os.path.exists(os.path.join(self.paths.state_dir, "abort")))
