"""history: appended one JSON object a line, read back in order, the last N on request."""
import json
import os

from conveyor_host.history import append_history, history, read_history
from tests.support import AppTestCase, captured


class HistoryTest(AppTestCase):
    def test_entries_are_appended_in_order_with_when(self):
        append_history(self.paths, {"action": "deploy", "result": "ok", "tag": "v1"})
        append_history(self.paths, {"action": "rollback", "result": "failed", "tag": "v0"})
        entries = read_history(self.paths)
        self.assertEqual([(e["action"], e["result"], e["tag"]) for e in entries],
                         [("deploy", "ok", "v1"), ("rollback", "failed", "v0")])
        self.assertRegex(entries[0]["at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(os.stat(self.paths.history).st_mode & 0o777, 0o640)

    def test_a_line_is_one_json_object_whatever_the_message_holds(self):
        append_history(self.paths, {"action": "deploy", "who": "a\tb\nc", "error": "x" * 300})
        with open(self.paths.history) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 1)
        self.assertEqual(json.loads(lines[0])["who"], "a\tb\nc")
        # keys sorted: the same entry is the same line
        self.assertEqual(list(json.loads(lines[0])), sorted(json.loads(lines[0])))

    def test_the_last_n_entries(self):
        for i in range(7):
            append_history(self.paths, {"action": "deploy", "tag": f"v{i}"})
        self.assertEqual([e["tag"] for e in read_history(self.paths, 3)], ["v4", "v5", "v6"])
        self.assertEqual(len(read_history(self.paths)), 7)
        self.assertEqual(len(read_history(self.paths, 0)), 7)  # 0: no limit

    def test_no_history_yet_is_empty(self):
        self.assertEqual(read_history(self.paths), [])
        self.assertEqual(read_history(self.paths, 5), [])

    def test_a_broken_line_is_skipped_not_fatal(self):
        append_history(self.paths, {"action": "deploy", "tag": "v1"})
        with open(self.paths.history, "a") as f:
            f.write('{"action": "deploy", "tag": "v2"\n')  # cut short (disk full, crash)
        append_history(self.paths, {"action": "deploy", "tag": "v3"})
        self.assertEqual([e["tag"] for e in read_history(self.paths)], ["v1", "v3"])

    def test_the_history_command_prints_one_json_line_an_entry(self):
        for i in range(3):
            append_history(self.paths, {"action": "deploy", "tag": f"v{i}"})
        code, events, other = captured(history, self.app, 2)
        self.assertEqual(code, 0)
        self.assertEqual(other, [])
        self.assertEqual([e["tag"] for e in events], ["v1", "v2"])
