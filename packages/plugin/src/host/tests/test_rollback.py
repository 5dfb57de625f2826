"""rollback: the fast rollback switches back to the previous colour only when it still runs the
planned release; anything else is "not-warm" (exit 3), with the proxy where it was."""
import json
import os
import time
import warnings

from conveyor_host.rollback import switch_back
from conveyor_host.state import load_state, save_state
from tests.support import AppTestCase, FakeHaproxy, FakeHttp, captured, free_port, result_of


class SwitchBackTest(AppTestCase):
    def setUp(self):
        super().setUp()
        self.v1 = self.app_port({"image_tag": "v1", "git_sha": "aaa1111"})
        save_state(self.paths, {"env": "staging", "strategy": "blue-green", "current": {"tag": "v2", "color": "green"},
                                "previous": {"tag": "v1", "color": "blue"}})
        blue = self.paths.color_dir("blue")
        self.write(os.path.join(blue, ".tag"), "v1\n")
        self.write(os.path.join(blue, ".port"), f"{self.v1.port}\n")
        self.write(self.paths.release_file("v1"), json.dumps({"tag": "v1", "git_sha": "aaa1111"}))
        self.proxy = FakeHaproxy(self.paths.proxy_sock, ["backend"], live="green")
        self.addCleanup(self.proxy.close)
        self.write(self.paths.proxy_cfg, "# the proxy's configuration, rewritten by the switch\n")

    def app_port(self, version):
        server = FakeHttp(lambda path: (200, json.dumps({"version": version})))
        self.addCleanup(server.close)
        return server

    def plan(self, public_port, **extra):
        return {"app_path": self.app, "app": "shop", "env": "staging", "deployer": "anna", "run_id": "r9",
                "target": {"tag": "v1", "git_sha": "aaa1111"}, "expect_live": "v2", "lock_timeout": 5,
                "components": ["backend"], "public_ports": {"backend": public_port}, "drain_seconds": 0,
                "color_ports": {"blue": {"backend": 1}, "green": {"backend": 2}}, **extra}

    def switch_back(self, plan):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)  # the drain stop is left to run on
            code, events, _ = captured(switch_back, plan)
        return code, result_of(events)

    def test_switches_to_the_warm_colour_and_records_it(self):
        public = self.v1  # through the proxy, the public port now serves v1
        code, result = self.switch_back(self.plan(public.port))
        self.assertEqual(code, 0)
        self.assertEqual(result, {"event": "result", "status": "ok", "tag": "v1", "live": "v1", "color": "blue",
                                  "previous_tag": "v2", "fast": True})
        self.assertEqual(self.proxy.op[("backend", "blue")], 2)
        self.assertEqual(self.proxy.op[("backend", "green")], 0)
        state = load_state(self.paths)
        self.assertEqual((state["current"]["tag"], state["current"]["color"], state["previous"]["tag"]), ("v1", "blue", "v2"))
        entry = self.history_lines()[-1]
        self.assertEqual({k: entry[k] for k in ("action", "result", "tag", "from", "color", "fast")},
                         {"action": "rollback", "result": "ok", "tag": "v1", "from": "v2", "color": "blue", "fast": True})
        with open(self.paths.proxy_cfg) as f:
            self.assertIn("    server blue 127.0.0.1:1\n    server green 127.0.0.1:2 disabled\n", f.read())
        self.assertFalse(os.path.exists(self.paths.lock))
        deadline = time.monotonic() + 10  # the drain stop of green, started in the background, ends
        while not os.path.exists(os.path.join(self.paths.state_dir, "stop-green.log")) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(os.path.exists(os.path.join(self.paths.state_dir, "stop-green.log")))

    def test_the_live_release_is_not_the_planned_one(self):
        code, result = self.switch_back(self.plan(free_port(), expect_live="v3"))
        self.assertEqual((code, result["status"], result["reason"]),
                         (3, "not-warm", "the live release is v2, not v3 as planned"))
        self.assertEqual(self.proxy.lines, [])

    def test_no_colours_on_this_host(self):
        save_state(self.paths, {"strategy": "recreate", "current": {"tag": "v2", "color": None}})
        code, result = self.switch_back(self.plan(free_port()))
        self.assertEqual((code, result["reason"]), (3, "the app does not run blue-green on this host"))

    def test_the_old_colour_runs_something_else(self):
        self.write(os.path.join(self.paths.color_dir("blue"), ".port"), f"{free_port()}\n")  # stopped
        code, result = self.switch_back(self.plan(free_port()))
        self.assertEqual((code, result["reason"]), (3, "colour blue is not running v1"))

    def test_the_old_colour_reports_another_commit(self):
        code, result = self.switch_back(self.plan(free_port(), target={"tag": "v1", "git_sha": "bbb2222"}))
        self.assertEqual((code, result["reason"]), (3, "colour blue reports commit aaa1111, not bbb2222"))

    def test_a_public_port_that_does_not_serve_it_switches_back_again(self):
        wrong = self.app_port({"image_tag": "v2"})
        code, result = self.switch_back(self.plan(wrong.port))
        self.assertEqual((code, result["status"]), (3, "not-warm"))
        self.assertEqual(result["reason"], "through the public port the proxy serves 'v2'; switched back")
        self.assertEqual(self.proxy.op[("backend", "green")], 2)
        self.assertEqual(load_state(self.paths)["current"]["tag"], "v2")

    def test_already_live_is_a_noop(self):
        save_state(self.paths, {"strategy": "blue-green", "current": {"tag": "v1", "color": "green"}})
        code, result = self.switch_back(self.plan(free_port()))
        self.assertEqual((code, result["status"], result["color"]), (0, "noop", "green"))
