"""proxy: HAProxy's configuration text, its compose file, where it routes (parsed from the runtime
API), the switch (one line of commands, the configuration rewritten to match) and the weights."""
import os
import subprocess
import time

from conveyor_host.common import Failure
from conveyor_host.proxy import (
    proxy_compose, proxy_config, proxy_env, proxy_routes, set_weights, start_proxy, switch_proxy, write_proxy_files,
)
from conveyor_host.engine import Engine
from tests.support import AppTestCase, FakeHaproxy, fake_command

PLAN = {
    "app": "shop",
    "env": "staging",
    "components": ["backend", "frontend"],
    "public_ports": {"backend": 8080, "frontend": 5173},
    "color_ports": {"blue": {"backend": 8081, "frontend": 5174}, "green": {"backend": 8082, "frontend": 5175}},
    "proxy_image": "haproxy:3.0-alpine",
    "project_prefix": "shop-staging",
}


class ConfigTest(AppTestCase):
    def test_haproxy_accepts_the_configuration_and_it_routes_to_the_live_colour(self):
        # HAProxy itself reads it (Debian's, which tools/env/up.sh installs to build the proxy image).
        text = proxy_config({**PLAN, "components": ["backend"]}, "green")
        cfg = self.write(os.path.join(self.tmp.name, "haproxy.cfg"), text + "\n")
        checked = subprocess.run(["haproxy", "-c", "-f", cfg], capture_output=True, text=True)
        self.assertEqual((checked.returncode, checked.stdout.strip()), (0, "Configuration file is valid"), checked.stderr)
        self.assertIn("frontend backend\n    bind :8080\n    default_backend backend\n", text)
        self.assertIn("backend backend\n    server blue 127.0.0.1:8081 disabled\n    server green 127.0.0.1:8082\n", text)
        # What keeps a switch and a reload free of failed requests (the zero-downtime e2e shows it).
        for line in ("retries 3", "option redispatch 1", "retry-on conn-failure empty-response",
                     "option idle-close-on-response",
                     f"stats socket /run/haproxy/admin.sock mode 660 uid {os.getuid()} gid {os.getgid()} level admin"):
            self.assertIn(f"    {line}\n", text)

    def test_each_component_has_its_frontend_and_backend(self):
        text = proxy_config(PLAN, "blue")
        self.assertIn("frontend frontend\n    bind :5173\n    default_backend frontend\n", text)
        self.assertIn("backend frontend\n    server blue 127.0.0.1:5174\n    server green 127.0.0.1:5175 disabled\n", text)

    def test_no_live_colour_disables_both(self):
        text = proxy_config(PLAN, None)
        self.assertIn("    server blue 127.0.0.1:8081 disabled", text)
        self.assertIn("    server green 127.0.0.1:8082 disabled", text)

    def test_the_compose_file_runs_haproxy_on_the_host_network(self):
        text = proxy_compose(PLAN)
        self.assertIn('    image: "haproxy:3.0-alpine"\n', text)
        self.assertIn("    network_mode: host\n", text)
        self.assertIn('    command: ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]\n', text)
        self.assertIn("      - ./conf:/usr/local/etc/haproxy:ro\n      - ./run:/run/haproxy\n", text)
        self.assertEqual(proxy_env(PLAN), {"COMPOSE_PROJECT_NAME": "shop-staging-proxy"})

    def test_write_proxy_files(self):
        write_proxy_files(self.paths, PLAN, "blue")
        with open(self.paths.proxy_cfg) as f:
            self.assertEqual(f.read(), proxy_config(PLAN, "blue") + "\n")
        with open(os.path.join(self.paths.proxy, ".env")) as f:
            self.assertEqual(f.read(), "COMPOSE_PROJECT_NAME=shop-staging-proxy\n")
        self.assertTrue(os.path.isdir(os.path.join(self.paths.proxy, "run")))


class RoutesTest(AppTestCase):
    def haproxy(self, **kwargs):
        proxy = FakeHaproxy(self.paths.proxy_sock, PLAN["components"], **kwargs)
        self.addCleanup(proxy.close)
        return proxy

    def test_every_component_on_one_colour(self):
        self.haproxy(live="green")
        self.assertEqual(proxy_routes(self.paths, PLAN["components"]), "green")

    def test_no_proxy_is_no_route(self):
        self.assertIsNone(proxy_routes(self.paths, PLAN["components"]))

    def test_components_on_different_colours_is_no_single_route(self):
        proxy = self.haproxy(live="blue")
        proxy.op[("frontend", "blue")], proxy.op[("frontend", "green")] = 0, 2
        self.assertIsNone(proxy_routes(self.paths, PLAN["components"]))

    def test_both_colours_ready_is_no_single_route(self):
        proxy = self.haproxy(live="blue")
        proxy.op[("backend", "green")] = 2
        self.assertIsNone(proxy_routes(self.paths, PLAN["components"]))

    def test_a_component_with_no_ready_server_is_no_route(self):
        proxy = self.haproxy(live="blue")
        proxy.op[("frontend", "blue")] = 0
        self.assertIsNone(proxy_routes(self.paths, PLAN["components"]))
        self.assertEqual(proxy_routes(self.paths, ["backend"]), "blue")

    def test_only_the_operational_state_counts(self):
        proxy = self.haproxy(live="blue")
        proxy.op[("backend", "blue")] = 1  # starting / stopping: not taking traffic
        self.assertIsNone(proxy_routes(self.paths, ["backend"]))


class SwitchTest(AppTestCase):
    def setUp(self):
        super().setUp()
        write_proxy_files(self.paths, PLAN, "blue")

    def test_the_switch_is_one_line_of_commands_and_the_configuration_follows(self):
        proxy = FakeHaproxy(self.paths.proxy_sock, PLAN["components"], live="blue")
        self.addCleanup(proxy.close)
        switch_id = switch_proxy(self.paths, PLAN, "green")
        self.assertEqual(proxy.lines[0], "; ".join([
            "set weight backend/green 100", "set server backend/green state ready", "set server backend/blue state maint",
            "set weight frontend/green 100", "set server frontend/green state ready", "set server frontend/blue state maint",
        ]))
        self.assertEqual(proxy_routes(self.paths, PLAN["components"]), "green")
        with open(self.paths.proxy_cfg) as f:
            self.assertEqual(f.read(), proxy_config(PLAN, "green") + "\n")
        with open(self.paths.last_switch) as f:
            self.assertEqual(f.read(), switch_id + "\n")
        self.assertRegex(switch_id, rf"^{os.getpid()}-\d+$")

    def test_the_switch_gives_the_colour_back_its_weight(self):
        # An aborted canary leaves its colour at weight 0: ready at 0 with the other colour in
        # maintenance, HAProxy would answer 503.
        proxy = FakeHaproxy(self.paths.proxy_sock, PLAN["components"], live="blue")
        self.addCleanup(proxy.close)
        proxy.weight[("backend", "green")] = proxy.weight[("frontend", "green")] = 0
        switch_proxy(self.paths, PLAN, "green")
        self.assertIn("set weight backend/green 100; set server backend/green state ready", proxy.lines[0])
        self.assertIn("set weight frontend/green 100; set server frontend/green state ready", proxy.lines[0])
        self.assertEqual((proxy.weight[("backend", "green")], proxy.weight[("frontend", "green")]), (100, 100))

    def test_a_refused_command_fails_the_switch_and_leaves_the_configuration(self):
        proxy = FakeHaproxy(self.paths.proxy_sock, PLAN["components"], live="blue", refuse=True)
        self.addCleanup(proxy.close)
        with self.assertRaises(Failure) as failed:
            switch_proxy(self.paths, PLAN, "green")
        self.assertEqual(failed.exception.phase, "switch")
        self.assertIn("proxy refused 'set weight backend/green 100; set server backend/green state ready;", str(failed.exception))
        with open(self.paths.proxy_cfg) as f:
            self.assertIn("    server green 127.0.0.1:8082 disabled", f.read())
        self.assertFalse(os.path.exists(self.paths.last_switch))

    def test_weights_are_set_for_both_colours_of_every_component(self):
        proxy = FakeHaproxy(self.paths.proxy_sock, PLAN["components"], live="blue")
        self.addCleanup(proxy.close)
        set_weights(self.paths, PLAN, "green", 10, "blue", 90)
        self.assertEqual(proxy.weight[("backend", "green")], 10)
        self.assertEqual(proxy.weight[("frontend", "blue")], 90)
        self.assertEqual(proxy.op[("backend", "green")], 2)  # both colours take requests
        self.assertEqual(proxy.lines[:2], ["set weight backend/blue 90", "set server backend/blue state ready"])

    def test_start_proxy_waits_for_the_runtime_api(self):
        log = os.path.join(self.tmp.name, "compose.log")
        compose = fake_command(self.tmp.name, "compose", f'echo "$COMPOSE_PROJECT_NAME $*" >> {log}\n')
        engine = Engine({"engine_command": "false", "compose_command": compose})
        proxy = FakeHaproxy(self.paths.proxy_sock, PLAN["components"], live="blue")
        self.addCleanup(proxy.close)
        start_proxy(engine, self.paths, PLAN, timeout=2)
        with open(log) as f:
            self.assertEqual(f.read(), "shop-staging-proxy up -d\n")
        self.assertEqual(proxy.lines, ["show info"])

    def test_start_proxy_fails_when_the_runtime_api_never_answers(self):
        compose = fake_command(self.tmp.name, "compose", "exit 0\n")
        engine = Engine({"engine_command": "false", "compose_command": compose})
        started = time.monotonic()
        with self.assertRaises(Failure) as failed:
            start_proxy(engine, self.paths, PLAN, timeout=0.3)
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        self.assertEqual(failed.exception.phase, "proxy")
        self.assertIn("did not answer within 0.3s", str(failed.exception))
