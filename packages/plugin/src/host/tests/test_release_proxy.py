"""release, at the proxy: a blue-green release whose new colour (green, v2) passed its gate meets
the proxy it finds (blue live, v1), and whatever fails there, the proxy that served keeps serving
the release the state names. HAProxy is the fake runtime API; compose and the engine are scripts
that log their command lines."""
import json
import os
from types import SimpleNamespace
from unittest import mock

from conveyor_host.common import Failure
from conveyor_host.proxy import Handover, proxy_config, proxy_routes, write_proxy_files
from conveyor_host.release import Release
from conveyor_host.state import load_state, save_state
from tests.support import AppTestCase, FakeHaproxy, FakeHttp, captured, fake_command, free_port, plan_for

# compose in a folder: `ps -q` lists what the folder's .running file says runs there; `up` fails
# where an .up-fails file is (once where an .up-fails-once file is).
COMPOSE = """\
echo "$(basename "$PWD") $*" >> "{log}"
case "$1" in
  ps) cat .running 2>/dev/null;;
  up) if [ -e .up-fails-once ]; then rm .up-fails-once; exit 1; fi; [ ! -e .up-fails ] || exit 1;;
esac
exit 0
"""
# The engine: every container inspected runs, a hand-over proxy where a handover-runs file is; `kill` (the proxy's reload) leaves a usr2 file beside
# it for the fake HAProxy, or fails while a kill-fails file is there.
ENGINE = """\
echo "engine $*" >> "{log}"
case "$1" in
  inspect) case "$*" in
    *-proxy-handover) [ -e "$(dirname "$0")/handover-runs" ] && echo true || exit 1;;
    *) echo "true sha256:0 backend";;
  esac;;
  kill) [ ! -e "$(dirname "$0")/kill-fails" ] || exit 1; touch "$(dirname "$0")/usr2";;
esac
exit 0
"""


class ReleaseAtTheProxyTestCase(AppTestCase):
    def setUp(self):
        super().setUp()
        self.log = os.path.join(self.tmp.name, "commands.log")
        self.v1 = self.serve("v1")
        self.v2 = self.serve("v2")
        self.plan = plan_for(self.app, strategy="blue-green", drain_seconds=0,
                             compose_command=fake_command(self.tmp.name, "compose", COMPOSE.format(log=self.log)),
                             engine_command=fake_command(self.tmp.name, "engine", ENGINE.format(log=self.log)))
        self.plan["color_ports"]["blue"]["backend"] = self.v1.port
        self.plan["color_ports"]["green"]["backend"] = self.v2.port
        self.write(self.plan["compose_file"], "services: {}\n")
        os.makedirs(self.paths.releases)
        # The new colour's containers run (its ports are its own).
        self.write(os.path.join(self.paths.color_dir("green"), "docker-compose.yml"), "services: {}\n")
        self.write(os.path.join(self.paths.color_dir("green"), ".running"), "g1\n")
        self.state = {"env": "staging", "strategy": "blue-green", "current": {"tag": "v1", "git_sha": "aaa1111", "color": "blue"}}
        save_state(self.paths, self.state)
        self.drains = []
        patcher = mock.patch("conveyor_host.release.schedule_drain_stop",
                             lambda paths, plan, color, switch_id: self.drains.append(color))
        patcher.start()
        self.addCleanup(patcher.stop)

    def serve(self, tag):
        sha = {"v1": "aaa1111", "v2": "abc1234"}[tag]
        server = FakeHttp(lambda path: (200, json.dumps({"version": {"image_tag": tag, "git_sha": sha}})))
        self.addCleanup(server.close)
        return server

    def proxy(self, components=("backend",), **kwargs):
        write_proxy_files(self.paths, {**self.plan, "components": list(components)}, "blue")
        self.write(os.path.join(self.paths.proxy, ".running"), "p1\n")
        haproxy = FakeHaproxy(self.paths.proxy_sock, components, live="blue", **kwargs)
        self.addCleanup(haproxy.close)
        return haproxy

    def commands(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return f.read().splitlines()

    def proxy_cfg(self):
        with open(self.paths.proxy_cfg) as f:
            return f.read()


class CanaryPromotedTest(ReleaseAtTheProxyTestCase):
    def test_a_promotion_that_fails_its_public_check_goes_back_to_the_old_colour(self):
        haproxy = self.proxy()
        haproxy.op[("backend", "green")], haproxy.weight[("backend", "green")] = 2, 50  # the canary's last step
        haproxy.weight[("backend", "blue")] = 50
        self.plan["public_ports"]["backend"] = self.v1.port  # through the proxy, v2 never answers
        release = Release(self.plan, {})
        folder = self.paths.color_dir("green")
        with self.assertRaises(Failure) as failed:
            captured(release.canary_promoted, self.state, self.state["current"], "blue", "green", folder, {"IMAGE_TAG": "v2"})
        self.assertEqual(failed.exception.phase, "switch")
        self.assertEqual((haproxy.op[("backend", "blue")], haproxy.weight[("backend", "blue")]), (2, 100))
        self.assertEqual(haproxy.op[("backend", "green")], 0)
        self.assertEqual(proxy_routes(self.paths, ["backend"]), "blue")
        self.assertEqual(self.proxy_cfg(), proxy_config(self.plan, "blue") + "\n")
        self.assertIn("green stop", self.commands())
        self.assertEqual(load_state(self.paths)["current"]["tag"], "v1")
        self.assertEqual(self.drains, [])


class SwitchTest(ReleaseAtTheProxyTestCase):
    """What the proxy answers decides the switch; a proxy that serves is never taken down."""

    def release(self):
        release = Release(self.plan, {})
        code, events, _ = captured(release.blue_green, self.state, self.state["current"], {})
        return code, events

    def assert_switched_to_green(self):
        self.assertEqual(proxy_routes(self.paths, self.plan["components"]), "green")
        self.assertEqual(self.proxy_cfg(), proxy_config(self.plan, "green") + "\n")
        current = load_state(self.paths)["current"]
        self.assertEqual((current["tag"], current["color"]), ("v2", "green"))
        self.assertEqual(self.drains, ["blue"])

    def assert_proxy_left_running(self):
        self.assertEqual([c for c in self.commands() if c.startswith(("proxy up", "proxy down", "proxy stop"))], [])

    def test_both_colours_ready_is_resolved_by_a_switch(self):
        # A canary that died mid-step: both colours take requests.
        haproxy = self.proxy()
        haproxy.op[("backend", "green")] = 2
        self.plan["public_ports"]["backend"] = self.v2.port
        self.release()
        self.assert_switched_to_green()
        self.assert_proxy_left_running()

    def test_a_question_the_proxy_leaves_unanswered_once_is_asked_again(self):
        self.proxy(hang_up=1)
        self.plan["public_ports"]["backend"] = self.v2.port
        self.release()
        self.assert_switched_to_green()
        self.assert_proxy_left_running()

    def with_frontend(self):
        # A frontend added to an app that had a backend only: the proxy has no backend for it.
        front = self.serve("v2")
        self.plan["components"] = ["backend", "frontend"]
        self.plan["public_ports"].update(backend=self.v2.port, frontend=free_port())
        self.plan["color_ports"]["blue"]["frontend"] = free_port()
        self.plan["color_ports"]["green"]["frontend"] = front.port
        self.plan["env_names"]["ports"]["frontend"] = "FRONTEND_PORT"
        return self.proxy(components=("backend",), reload_on=(os.path.join(self.tmp.name, "usr2"), self.paths.proxy_cfg))

    def test_a_component_the_proxy_lacks_comes_with_a_reload_in_place(self):
        self.with_frontend()
        self.release()
        self.assertIn("engine kill --signal USR2 p1", self.commands())
        self.assert_switched_to_green()
        self.assert_proxy_left_running()

    def test_a_reload_that_fails_leaves_the_previous_configuration_serving(self):
        before = (self.with_frontend(), self.proxy_cfg())[1]
        self.write(os.path.join(self.tmp.name, "kill-fails"), "")
        with self.assertRaises(Failure):
            self.release()
        self.assertEqual(self.proxy_cfg(), before)
        self.assertEqual(proxy_routes(self.paths, ["backend"]), "blue")
        self.assertNotIn("proxy down", self.commands())
        self.assertIn("green stop", self.commands())
        self.assertEqual(load_state(self.paths)["current"]["tag"], "v1")

    def test_a_proxy_that_runs_without_answering_is_left_alone(self):
        write_proxy_files(self.paths, self.plan, "blue")
        self.write(os.path.join(self.paths.proxy, ".running"), "p1\n")
        with self.assertRaises(Failure) as failed:
            self.release()
        self.assertIn("the proxy runs but its runtime API", str(failed.exception))
        self.assertEqual(self.proxy_cfg(), proxy_config(self.plan, "blue") + "\n")
        self.assert_proxy_left_running()
        self.assertIn("green stop", self.commands())

    def test_a_stopped_proxy_that_cannot_start_gets_its_previous_configuration_back(self):
        write_proxy_files(self.paths, self.plan, "blue")
        self.write(os.path.join(self.paths.proxy, ".up-fails"), "")
        with self.assertRaises(Failure):
            self.release()
        self.assertEqual(self.proxy_cfg(), proxy_config(self.plan, "blue") + "\n")
        self.assertNotIn("proxy down", self.commands())
        self.assertIn("green stop", self.commands())

    def test_a_stopped_proxy_whose_ports_are_taken_keeps_its_files(self):
        self.plan["public_ports"]["backend"] = self.v1.port  # something else listens there
        write_proxy_files(self.paths, self.plan, "blue")
        with self.assertRaises(Failure) as failed:
            self.release()
        self.assertIn("already in use", str(failed.exception))
        self.assertEqual(self.proxy_cfg(), proxy_config(self.plan, "blue") + "\n")


class ReconcileTest(ReleaseAtTheProxyTestCase):
    """Before a release, the state follows the proxy only when the proxy routes to one colour that
    serves its release."""

    def setUp(self):
        super().setUp()
        green = self.paths.color_dir("green")
        self.write(os.path.join(green, ".tag"), "v2\n")
        self.write(os.path.join(green, ".port"), f"{self.v2.port}\n")
        self.write(os.path.join(green, ".env"), "IMAGE_TAG=v2\n")

    def reconcile(self):
        _, events, _ = captured(Release(self.plan, {}).reconcile, self.state)
        return load_state(self.paths)["current"], events

    def test_a_colour_the_proxy_routes_to_and_that_serves_is_recorded(self):
        haproxy = self.proxy()
        haproxy.op[("backend", "blue")], haproxy.op[("backend", "green")] = 0, 2
        current, _ = self.reconcile()
        self.assertEqual((current["tag"], current["color"]), ("v2", "green"))

    def test_a_colour_ready_at_weight_0_is_not_recorded(self):
        # A switch to an aborted canary's colour left it ready at weight 0: it takes no request.
        haproxy = self.proxy()
        haproxy.op[("backend", "blue")], haproxy.op[("backend", "green")] = 0, 2
        haproxy.weight[("backend", "green")] = 0
        current, _ = self.reconcile()
        self.assertEqual((current["tag"], current["color"]), ("v1", "blue"))
        self.assertEqual(self.history_lines(), [])

    def test_a_routed_colour_that_does_not_serve_its_release_is_not_recorded(self):
        haproxy = self.proxy()
        haproxy.op[("backend", "blue")], haproxy.op[("backend", "green")] = 0, 2
        self.write(os.path.join(self.paths.color_dir("green"), ".port"), f"{free_port()}\n")
        current, events = self.reconcile()
        self.assertEqual((current["tag"], current["color"]), ("v1", "blue"))
        self.assertEqual(self.history_lines(), [])
        self.assertIn("green stays unrecorded", [e for e in events if e["event"] == "repair"][-1]["what"])


class TakeOverAtTheProxyTest(ReleaseAtTheProxyTestCase):
    """A release taken over (its folder gone, or a deploy_path moved) still serves through its own
    proxy, under the project name the new proxy needs: a hand-over proxy listens beside it while
    it goes, then beside the new proxy until that one answers."""

    def setUp(self):
        super().setUp()
        self.state = {"env": "staging", "strategy": "blue-green", "current": None}
        save_state(self.paths, self.state)
        self.plan["take_over"] = {"kind": "abandoned"}
        self.plan["public_ports"]["backend"] = self.v2.port
        for sock in (self.paths.proxy_sock, Handover(None, self.paths, self.plan).paths.proxy_sock):
            haproxy = FakeHaproxy(sock, ("backend",), live="green")
            self.addCleanup(haproxy.close)

    def first_proxy(self, foreign=("op1",)):
        release = Release(self.plan, {})
        release.foreign = [SimpleNamespace(project="shop-staging-proxy", app_path="/gone/shop",
                                           ids=lambda running_only=False: list(foreign))] if foreign else []
        try:
            captured(release.first_proxy, "green", self.paths.color_dir("green"), {})
        finally:
            self.log_lines = self.commands()
        return self.log_lines

    def at(self, command):
        return self.log_lines.index(next(c for c in self.log_lines if c.startswith(command)))

    def test_the_old_proxy_goes_while_a_hand_over_proxy_listens_beside_it(self):
        self.first_proxy()
        self.assertLess(self.at("engine run -d --name shop-staging-proxy-handover --network host"), self.at("engine stop -t 5 op1"))
        self.assertLess(self.at("engine stop -t 5 op1"), self.at("engine rm -f op1"))
        self.assertLess(self.at("engine rm -f op1"), self.at("proxy up -d"))
        self.assertLess(self.at("proxy up -d"), self.at("engine stop -t 5 shop-staging-proxy-handover"))
        self.assertNotIn("engine kill --signal TERM op1", self.log_lines)
        self.assertEqual(self.proxy_cfg(), proxy_config(self.plan, "green") + "\n")

    def test_without_a_hand_over_proxy_the_old_one_stops_before_the_new_one_starts(self):
        with mock.patch.object(Handover, "start", side_effect=Failure("the hand-over proxy did not route to green")):
            self.first_proxy()
        self.assertLess(self.at("engine kill --signal TERM op1"), self.at("proxy up -d"))
        self.assertNotIn("engine stop -t 5 op1", self.log_lines)
        self.assertIn("engine rm -f op1", self.log_lines)

    def test_a_new_proxy_that_does_not_start_leaves_the_hand_over_proxy_serving_the_new_colour(self):
        self.write(os.path.join(self.paths.proxy, ".up-fails"), "")
        with self.assertRaises(Failure) as failed:
            self.first_proxy()
        self.assertIn("The hand-over proxy shop-staging-proxy-handover (outside compose) serves green", str(failed.exception))
        self.assertNotIn("green stop", self.log_lines)
        self.assertFalse([c for c in self.log_lines if c.startswith("engine stop -t 5 shop-staging-proxy-handover")])

    def test_the_next_release_starts_its_proxy_beside_a_hand_over_proxy_left_running(self):
        self.write(os.path.join(self.tmp.name, "handover-runs"), "")
        self.first_proxy(foreign=())
        self.assertLess(self.at("proxy up -d"), self.at("engine stop -t 5 shop-staging-proxy-handover"))
        self.assertFalse([c for c in self.log_lines if c.startswith(("engine run", "engine kill"))])
