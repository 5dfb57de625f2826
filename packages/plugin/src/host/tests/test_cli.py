"""cli: the command table, the usage on no or unknown command (exit 64), abort and promote."""
import contextlib
import io
import os

from conveyor_host import cli
from conveyor_host.history import append_history
from tests.support import AppTestCase, captured


class CliTest(AppTestCase):
    def main(self, *args):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code, events, other = captured(cli.main, ["conveyor-host.pyz", *args])
        return code, events, other, err.getvalue()

    def test_no_command_prints_the_usage(self):
        code, events, other, err = self.main()
        self.assertEqual((code, events, other), (64, [], []))
        self.assertTrue(err.startswith("Conveyor's release protocol on a host: the one implementation of the lock"))
        self.assertIn("\n  conveyor-host.pyz release PLAN            deploy or roll back as planned", err)
        self.assertIn("3 fast rollback not possible (the caller runs the full rollback), 4 lock held by a live holder,", err)
        self.assertIn("75 release-bundle from another version of the helper", err)

    def test_an_unknown_command_names_it_then_the_usage(self):
        code, _, _, err = self.main("--help")
        self.assertEqual(code, 64)
        self.assertTrue(err.startswith("unknown command '--help'\nConveyor's release protocol"))

    def test_abort_and_promote_leave_a_file_for_the_canary_to_find(self):
        code, events, _, _ = self.main("abort", self.app)
        self.assertEqual(code, 0)
        self.assertEqual(events, [{"event": "result", "status": "ok",
                                   "message": "a running canary goes back to stable at its next analysis"}])
        with open(os.path.join(self.paths.state_dir, "abort")) as f:
            self.assertRegex(f.read(), r"^\d{4}-.*Z\n$")
        self.main("abort", self.app, "anna (Ctrl-C)")
        with open(os.path.join(self.paths.state_dir, "abort")) as f:
            self.assertRegex(f.read(), r"^\d{4}-.*Z anna \(Ctrl-C\)\n$")
        _, events, _, _ = self.main("promote", self.app)
        self.assertEqual(events[0]["message"],
                         "a running canary goes to every request, skipping its remaining steps at its next analysis")
        self.assertTrue(os.path.exists(os.path.join(self.paths.state_dir, "promote")))

    def test_history_without_a_count_prints_every_entry(self):
        for i in range(3):
            append_history(self.paths, {"action": "deploy", "tag": f"v{i}"})
        self.assertEqual(len(self.main("history", self.app)[1]), 3)
        self.assertEqual([e["tag"] for e in self.main("history", self.app, "1")[1]], ["v2"])

    def test_status_and_break_lock(self):
        code, events, _, _ = self.main("status", self.app)
        self.assertEqual((code, events[0]["agree"]), (0, True))
        code, events, _, _ = self.main("break-lock", self.app)
        self.assertEqual((code, events[0]["message"]), (0, "the lock is free"))
