"""drain: after a switch, the colour switched away from is stopped once its drain time is over,
unless a later switch happened or it is live again; its secrets go with it."""
import json
import os
import threading
import time
import warnings

from conveyor_host.drain import drain_stop, schedule_drain_stop
from conveyor_host.lock import Lock
from conveyor_host.state import save_state
from tests.support import AppTestCase, captured, fake_command


class DrainStopTest(AppTestCase):
    def setUp(self):
        super().setUp()
        self.log = os.path.join(self.tmp.name, "compose.log")
        compose = fake_command(self.tmp.name, "compose", f'echo "$(basename "$PWD") $COMPOSE_PROJECT_NAME $*" >> {self.log}\n')
        self.write(os.path.join(self.paths.state_dir, "engine.json"),
                   json.dumps({"engine_command": "false", "compose_command": compose, "components": ["backend"]}))
        blue = self.paths.color_dir("blue")
        self.write(os.path.join(blue, ".env"), "COMPOSE_PROJECT_NAME=shop-staging-blue\n")
        self.write(os.path.join(blue, "secrets", "API_KEY"), "k-1")
        save_state(self.paths, {"current": {"tag": "v2", "color": "green"}})
        self.write(self.paths.last_switch, "switch-1\n")

    def compose_calls(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return f.read().splitlines()

    def test_stops_the_old_colour_after_its_drain_time_and_removes_its_secrets(self):
        started = time.monotonic()
        self.assertEqual(drain_stop(self.app, "blue", "switch-1", "0.3"), 0)
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        self.assertEqual(self.compose_calls(), ["blue shop-staging-blue stop"])
        self.assertFalse(os.path.exists(os.path.join(self.paths.color_dir("blue"), "secrets")))
        self.assertFalse(os.path.exists(self.paths.lock))

    def test_a_later_switch_keeps_it(self):
        self.write(self.paths.last_switch, "switch-2\n")
        self.assertEqual(drain_stop(self.app, "blue", "switch-1", "0"), 0)
        self.assertEqual(self.compose_calls(), [])
        self.assertTrue(os.path.exists(os.path.join(self.paths.color_dir("blue"), "secrets", "API_KEY")))

    def test_a_colour_live_again_is_kept(self):
        # Live again with no switch written since (the state names it): never stopped.
        save_state(self.paths, {"current": {"tag": "v1", "color": "blue"}})
        self.assertEqual(drain_stop(self.app, "blue", "switch-1", "0"), 0)
        self.assertEqual(self.compose_calls(), [])

    def test_a_colour_without_its_files_is_left_alone(self):
        os.unlink(os.path.join(self.paths.color_dir("blue"), ".env"))
        self.assertEqual(drain_stop(self.app, "blue", "switch-1", "0"), 0)
        self.assertEqual(self.compose_calls(), [])

    def test_it_takes_the_lock_to_act(self):
        # The decision is taken under the lock: a release going on is waited for (here one whose
        # holder is dead is broken first, and recorded).
        self.write(os.path.join(self.paths.lock, "holder.json"),
                   json.dumps({"who": "bob", "action": "deploy", "pid": os.getpid(), "pid_start": "1", "boot": "gone"}))
        code, events, _ = captured(drain_stop, self.app, "blue", "switch-1", "0")
        self.assertEqual(code, 0)
        self.assertEqual(events[0]["event"], "lock-broken")
        self.assertEqual(self.compose_calls(), ["blue shop-staging-blue stop"])
        entry = self.history_lines()[-1]
        self.assertEqual((entry["action"], entry["who"]), ("lock-break", "drain stop of blue (drain-stop)"))

    def test_waits_for_a_live_holder_before_it_decides(self):
        held = Lock(self.paths, "anna", "deploy", "v3")
        held.acquire(0)
        threading.Timer(0.4, held.release).start()
        started = time.monotonic()
        self.assertEqual(drain_stop(self.app, "blue", "switch-1", "0"), 0)
        self.assertGreaterEqual(time.monotonic() - started, 0.4)
        self.assertEqual(self.compose_calls(), ["blue shop-staging-blue stop"])

    def test_scheduled_in_the_background_after_the_switch(self):
        # The helper starts itself again (here from its sources) as a process of its own session.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)  # the helper leaves the process and its log to run on
            schedule_drain_stop(self.paths, {"drain_seconds": 0}, "blue", "switch-1")
        deadline = time.monotonic() + 10
        while not self.compose_calls() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.compose_calls(), ["blue shop-staging-blue stop"])
        with open(os.path.join(self.paths.state_dir, "stop-blue.log")) as f:
            self.assertEqual(f.read(), "")
        while os.path.exists(self.paths.lock) and time.monotonic() < deadline:
            time.sleep(0.05)  # the stop ends (its lock released) before the folder goes
