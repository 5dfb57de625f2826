"""state: where an app's files are, and the release state read and written (older hosts included)."""
import json
import os
import re
import unittest

from conveyor_host.state import Paths, load_state, save_state
from tests.support import AppTestCase


class PathsTest(unittest.TestCase):
    def test_the_layout_on_the_host(self):
        p = Paths("/opt/conveyor/shop")
        self.assertEqual(p.state_dir, "/opt/conveyor/shop/.conveyor")
        self.assertEqual(p.state, "/opt/conveyor/shop/.conveyor/state.json")
        self.assertEqual(p.history, "/opt/conveyor/shop/.conveyor/history.jsonl")
        self.assertEqual(p.lock, "/opt/conveyor/shop/.conveyor/lock")
        self.assertEqual(p.runs, "/opt/conveyor/shop/.conveyor/runs")
        self.assertEqual(p.last_switch, "/opt/conveyor/shop/.conveyor/last-switch")
        self.assertEqual(p.proxy_cfg, "/opt/conveyor/shop/proxy/conf/haproxy.cfg")
        self.assertEqual(p.proxy_sock, "/opt/conveyor/shop/proxy/run/admin.sock")
        self.assertEqual(p.color_dir("green"), "/opt/conveyor/shop/green")
        self.assertEqual(p.release_file("v2"), "/opt/conveyor/shop/.conveyor/releases/v2.json")


class StateTest(AppTestCase):
    def test_a_fresh_folder_has_an_empty_state(self):
        self.assertEqual(load_state(self.paths), {})

    def test_save_then_load_gives_the_state_back_with_when_it_was_written(self):
        state = {"env": "staging", "current": {"tag": "v2", "color": "green"}, "previous": {"tag": "v1"}}
        save_state(self.paths, state)
        loaded = load_state(self.paths)
        self.assertEqual(loaded["current"], {"tag": "v2", "color": "green"})
        self.assertEqual(loaded["previous"], {"tag": "v1"})
        self.assertRegex(loaded["updated"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(os.stat(self.paths.state).st_mode & 0o777, 0o640)
        with open(self.paths.state) as f:
            self.assertEqual(json.load(f), loaded)

    def test_the_files_of_an_older_conveyor_are_read_into_the_same_shape(self):
        for name, text in (("current", "v2\n"), ("previous", "v1\n"), ("color", "green\n")):
            self.write(os.path.join(self.paths.state_dir, name), text)
        self.assertEqual(load_state(self.paths), {"current": {"tag": "v2", "color": "green"}, "previous": {"tag": "v1"}})

    def test_an_older_recreate_host_has_no_colour(self):
        self.write(os.path.join(self.paths.state_dir, "current"), "v3\n")
        self.assertEqual(load_state(self.paths), {"current": {"tag": "v3", "color": None}})

    def test_state_json_wins_over_older_files(self):
        self.write(os.path.join(self.paths.state_dir, "current"), "v1\n")
        self.write(self.paths.state, json.dumps({"current": {"tag": "v9"}}))
        self.assertEqual(load_state(self.paths), {"current": {"tag": "v9"}})

    def test_a_state_that_is_not_an_object_is_read_as_the_older_files(self):
        self.write(self.paths.state, "[1, 2]")
        self.assertEqual(load_state(self.paths), {})
        self.write(self.paths.state, "{broken")
        self.write(os.path.join(self.paths.state_dir, "current"), "v4\n")
        self.assertEqual(load_state(self.paths)["current"]["tag"], "v4")

    def test_updated_is_utc(self):
        state = {}
        save_state(self.paths, state)
        self.assertTrue(re.match(r"^\d{4}-.*Z$", state["updated"]))


if __name__ == "__main__":
    unittest.main()
