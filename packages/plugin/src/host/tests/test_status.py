"""status: one JSON object (state, proxy routes, lock, last history, releases), exit 2 when the
proxy and the state disagree."""
import json
import os

from conveyor_host.history import append_history
from conveyor_host.lock import Lock
from conveyor_host.state import save_state
from conveyor_host.status import known_releases, status
from tests.support import AppTestCase, FakeHaproxy, captured


class StatusTest(AppTestCase):
    def status(self):
        code, events, other = captured(status, self.app)
        self.assertEqual(other, [])
        self.assertEqual(len(events), 1)
        return code, events[0]

    def blue_green(self, color):
        save_state(self.paths, {"env": "staging", "strategy": "blue-green", "current": {"tag": "v2", "color": color},
                                "previous": {"tag": "v1", "color": "blue"}})
        self.write(os.path.join(self.paths.proxy, "docker-compose.yml"), "services: {}\n")
        self.write(os.path.join(self.paths.state_dir, "engine.json"), json.dumps({"components": ["backend", "frontend"]}))

    def test_a_fresh_folder(self):
        code, s = self.status()
        self.assertEqual(code, 0)
        self.assertEqual(s, {"app_path": self.app, "env": None, "strategy": None, "current": None, "previous": None,
                             "proxy_routes": None, "lock": None, "agree": True, "problems": [], "history": [],
                             "releases": {}, "edge": None, "database": None})

    def test_state_and_proxy_agree(self):
        self.blue_green("green")
        proxy = FakeHaproxy(self.paths.proxy_sock, ["backend", "frontend"], live="green")
        self.addCleanup(proxy.close)
        code, s = self.status()
        self.assertEqual(code, 0)
        self.assertEqual((s["env"], s["strategy"], s["proxy_routes"], s["agree"], s["problems"]),
                         ("staging", "blue-green", "green", True, []))
        self.assertEqual(s["current"]["tag"], "v2")
        self.assertEqual(s["previous"], {"tag": "v1", "color": "blue"})
        self.assertEqual(proxy.lines, ["show servers state"])

    def test_the_proxy_routes_elsewhere_than_the_state_says(self):
        self.blue_green("blue")
        proxy = FakeHaproxy(self.paths.proxy_sock, ["backend", "frontend"], live="green")
        self.addCleanup(proxy.close)
        code, s = self.status()
        self.assertEqual(code, 2)
        self.assertFalse(s["agree"])
        self.assertEqual(s["problems"], ["the proxy routes to green, the state says blue"])

    def test_a_proxy_that_does_not_answer(self):
        self.blue_green("green")
        code, s = self.status()
        self.assertEqual(code, 2)
        self.assertIsNone(s["proxy_routes"])
        self.assertEqual(s["problems"], ["the proxy does not answer or routes to no single colour"])

    def test_the_engine_json_components_are_the_ones_looked_at(self):
        self.blue_green("green")
        proxy = FakeHaproxy(self.paths.proxy_sock, ["backend", "frontend"], live="green")
        self.addCleanup(proxy.close)
        proxy.op[("frontend", "green")], proxy.op[("frontend", "blue")] = 0, 2
        self.assertEqual(self.status()[0], 2)
        self.write(os.path.join(self.paths.state_dir, "engine.json"), json.dumps({"components": ["backend"]}))
        self.assertEqual(self.status()[0], 0)

    def test_recreate_has_no_proxy_to_agree_with(self):
        save_state(self.paths, {"strategy": "recreate", "current": {"tag": "v3", "color": None}})
        self.write(os.path.join(self.paths.proxy, "docker-compose.yml"), "services: {}\n")  # left from blue-green
        code, s = self.status()
        self.assertEqual((code, s["agree"]), (0, True))

    def test_the_lock_with_its_holder_alive_or_not(self):
        lock = Lock(self.paths, "anna", "deploy", "v2", "run-1")
        lock.acquire(0)
        self.addCleanup(lock.release)
        _, s = self.status()
        self.assertEqual((s["lock"]["who"], s["lock"]["alive"], s["lock"]["run_id"]), ("anna", True, "run-1"))
        self.assertTrue(s["lock"]["text"].startswith("anna (deploy v2) since "))

    def test_the_last_five_history_entries_and_the_releases_known(self):
        for i in range(7):
            append_history(self.paths, {"action": "deploy", "tag": f"v{i}"})
        self.write(self.paths.release_file("v5"), json.dumps({"tag": "v5", "git_sha": "abc"}))
        self.write(self.paths.release_file("v6"), json.dumps({"tag": "v6"}))
        self.write(os.path.join(self.paths.releases, "notes.txt"), "{}")
        self.write(self.paths.release_file("broken"), "[1]")
        _, s = self.status()
        self.assertEqual([e["tag"] for e in s["history"]], ["v2", "v3", "v4", "v5", "v6"])
        self.assertEqual(s["releases"], {"v5": {"tag": "v5", "git_sha": "abc"}, "v6": {"tag": "v6"}})
        self.assertEqual(known_releases(self.paths), s["releases"])
