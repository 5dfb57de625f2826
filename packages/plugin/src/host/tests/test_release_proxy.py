"""release, at the proxy: a blue-green release whose new colour (green, v2) passed its gate meets
the proxy it finds (blue live, v1), and whatever fails there, the proxy that served keeps serving
the release the state names. HAProxy is the fake runtime API; compose and the engine are scripts
that log their command lines."""
import json
import os
from unittest import mock

from conveyor_host.common import Failure
from conveyor_host.proxy import proxy_config, proxy_routes, write_proxy_files
from conveyor_host.release import Release
from conveyor_host.state import load_state, save_state
from tests.support import AppTestCase, FakeHaproxy, FakeHttp, captured, fake_command, free_port, plan_for

# compose in a folder: `ps -q` lists what the folder's .running file says runs there; `up` fails
# where an .up-fails file is.
COMPOSE = """\
echo "$(basename "$PWD") $*" >> "{log}"
case "$1" in
  ps) cat .running 2>/dev/null;;
  up) [ ! -e .up-fails ] || exit 1;;
esac
exit 0
"""
# The engine: every container inspected runs; `kill` fails while a kill-fails file is beside it.
ENGINE = """\
echo "engine $*" >> "{log}"
case "$1" in
  inspect) echo "true sha256:0 backend";;
  kill) [ ! -e "$(dirname "$0")/kill-fails" ] || exit 1;;
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
