"""release: a release folder (.env, secrets, compose override), the health gate, the hook before
the switch, the compose names a host already uses, how a release ends before it starts, and the
canary's steps (a canary that does not answer, restarts or gets too few requests is not promoted)."""
import contextlib
import io
import json
import os
import re
import stat
import tempfile
import time
from unittest import mock

from conveyor_host.common import Failure
from conveyor_host.lock import Lock
from conveyor_host.release import (
    Release, before_switch_hook, gate, host_prefix, release_env, up_command, write_release_folder,
)
from conveyor_host.state import save_state
from tests.support import AppTestCase, FakeHaproxy, FakeHttp, captured, fake_command, plan_for, result_of


class HostPrefixTest(AppTestCase):
    def test_the_state_names_it(self):
        self.assertEqual(host_prefix({"project_prefix": "shop-prod"}, self.paths, "shop-staging", "blue-green"), "shop-prod")

    def test_a_fresh_host_takes_the_planned_names(self):
        self.assertEqual(host_prefix({}, self.paths, "shop-staging", "blue-green"), "shop-staging")
        self.assertEqual(host_prefix({}, self.paths, "shop-staging", "recreate"), "shop-staging")

    def test_an_older_proxy_keeps_its_names(self):
        self.write(os.path.join(self.paths.proxy, ".env"), "COMPOSE_PROJECT_NAME=shop-proxy\n")
        self.assertEqual(host_prefix({}, self.paths, "shop-staging", "blue-green"), "shop")

    def test_an_older_recreate_release_keeps_its_name_until_it_moves_to_blue_green(self):
        self.write(os.path.join(self.app, ".env"), "COMPOSE_PROJECT_NAME=shop\n")
        self.assertEqual(host_prefix({}, self.paths, "shop-staging", "recreate"), "shop")
        self.assertEqual(host_prefix({}, self.paths, "shop-staging", "blue-green"), "shop-staging")


class FolderTest(AppTestCase):
    def test_a_component_the_plan_does_not_deploy_is_scaled_to_0(self):
        # A frontend before the app has a frontend port would run on its default port: the
        # public port the proxy takes once the frontend is deployed.
        folder = self.write(os.path.join(self.app, "blue", "docker-compose.yml"),
                            "services:\n  backend:\n    image: b\n  frontend:\n    image: f\n")
        folder = os.path.dirname(folder)
        self.assertEqual(up_command(plan_for(self.app, components=["backend"]), folder),
                         ["up", "-d", "--force-recreate", "--remove-orphans", "--scale", "frontend=0"])
        self.assertEqual(up_command(plan_for(self.app, components=["backend", "frontend"]), folder),
                         ["up", "-d", "--force-recreate", "--remove-orphans"])
        self.write(os.path.join(folder, "docker-compose.yml"), "services:\n  backend:\n    image: b\n")
        self.assertEqual(up_command(plan_for(self.app, components=["backend"]), folder), ["up", "-d", "--force-recreate", "--remove-orphans"])

    def test_release_env(self):
        plan = plan_for(self.app)
        env = release_env(plan, plan["target"], {"backend": 8081}, "127.0.0.1:", "shop-staging-blue")
        deployed_at = env.pop("DEPLOYED_AT")
        self.assertRegex(deployed_at, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(env, {"LOG_LEVEL": "info", "COMPOSE_PROJECT_NAME": "shop-staging-blue", "BIND": "127.0.0.1:",
                               "IMAGE_TAG": "v2", "GIT_SHA": "abc1234", "BACKEND_PORT": "8081"})

    def test_the_folder_with_its_secrets(self):
        plan = plan_for(self.app, secrets={"names": ["B_KEY", "A_KEY"], "services": ["backend", "worker"]})
        self.write(plan["compose_file"], "services: {}\n")
        folder = self.paths.color_dir("blue")
        env = release_env(plan, plan["target"], {"backend": 8081}, "127.0.0.1:", "shop-staging-blue")
        write_release_folder(folder, plan, env, {"A_KEY": "a-1", "B_KEY": "b-1"})
        with open(os.path.join(folder, ".env")) as f:
            text = f.read()
        self.assertTrue(text.startswith("# Written by Conveyor: deploy of v2 (shop, staging).\n"))
        self.assertIn("COMPOSE_FILE=docker-compose.yml:docker-compose.secrets.yml\n", text)
        self.assertNotIn("a-1", text)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(folder, ".env")).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(folder, "secrets")).st_mode), 0o700)
        self.assertEqual(sorted(os.listdir(os.path.join(folder, "secrets"))), ["A_KEY", "B_KEY"])
        with open(os.path.join(folder, "docker-compose.secrets.yml")) as f:
            self.assertEqual(f.read(), "\n".join([
                "# Written by Conveyor: the release's secrets, mounted at /run/secrets/<NAME>.", "services:",
                "  backend:", "    secrets:", "      - A_KEY", "      - B_KEY",
                "  worker:", "    secrets:", "      - A_KEY", "      - B_KEY",
                "secrets:", "  A_KEY:", "    file: ./secrets/A_KEY", "  B_KEY:", "    file: ./secrets/B_KEY", ""]))
        # No secrets any more: the folder, the override and COMPOSE_FILE go.
        plan.pop("secrets")
        write_release_folder(folder, plan, env, {})
        self.assertFalse(os.path.exists(os.path.join(folder, "secrets")))
        self.assertFalse(os.path.exists(os.path.join(folder, "docker-compose.secrets.yml")))
        with open(os.path.join(folder, ".env")) as f:
            self.assertNotIn("COMPOSE_FILE", f.read())

    def test_secrets_keep_the_users_compose_override(self):
        # The playbook and the release bundle put docker-compose.override.yml in every release
        # folder; compose reads it by itself only while COMPOSE_FILE is unset.
        plan = plan_for(self.app, secrets={"names": ["A_KEY"]})
        self.write(plan["compose_file"], "services: {}\n")
        folder = self.paths.color_dir("blue")
        self.write(os.path.join(folder, "docker-compose.override.yml"), "services: {}\n")
        env = release_env(plan, plan["target"], {"backend": 8081}, "127.0.0.1:", "shop-staging-blue")
        write_release_folder(folder, plan, env, {"A_KEY": "a-1"})
        with open(os.path.join(folder, ".env")) as f:
            self.assertIn("COMPOSE_FILE=docker-compose.yml:docker-compose.override.yml:docker-compose.secrets.yml\n", f.read())


class GateTest(AppTestCase):
    def serve(self, version, health=200):
        body = json.dumps({"version": version})
        server = FakeHttp(lambda path: (health, "") if path == "/health" else (200, body))
        self.addCleanup(server.close)
        return server

    def test_healthy_and_running_the_release(self):
        server = self.serve({"image_tag": "v2", "git_sha": "abc1234"})
        plan = plan_for(self.app)
        gate(plan, plan["target"], {"backend": server.port}, time.monotonic() + 1)
        self.assertEqual(server.paths, ["/health", "/metrics"])

    def test_another_tag_fails_the_gate(self):
        server = self.serve({"image_tag": "v1", "git_sha": "abc1234"})
        plan = plan_for(self.app)
        with self.assertRaises(Failure) as failed:
            gate(plan, plan["target"], {"backend": server.port}, time.monotonic() + 1)
        self.assertEqual((str(failed.exception), failed.exception.phase),
                         ("/metrics reports image tag 'v1', expected 'v2'", "gate"))

    def test_another_commit_fails_the_gate(self):
        server = self.serve({"image_tag": "v2", "git_sha": "fff0000"})
        plan = plan_for(self.app)
        with self.assertRaises(Failure) as failed:
            gate(plan, plan["target"], {"backend": server.port}, time.monotonic() + 1)
        self.assertEqual(str(failed.exception), "/metrics reports commit 'fff0000', expected 'abc1234'")

    def test_no_answer_within_the_health_timeout(self):
        server = self.serve({}, health=503)
        plan = plan_for(self.app)
        started = time.monotonic()
        with self.assertRaises(Failure) as failed:
            gate(plan, plan["target"], {"backend": server.port}, time.monotonic() + 0.5)
        self.assertGreaterEqual(time.monotonic() - started, 0.5)
        self.assertEqual(str(failed.exception),
                         f"backend did not answer /health on port {server.port} with 200 within 1s (last: 503)")


class HookTest(AppTestCase):
    def hook(self, script):
        return self.write(os.path.join(self.paths.runs, "r1.before-switch"), script)

    def test_no_hook_is_nothing_to_run(self):
        _, events, _ = captured(before_switch_hook, plan_for(self.app), self.paths, "blue", 8081)
        self.assertEqual(events, [])

    def test_the_hook_runs_in_the_app_folder_with_the_release_in_its_environment_once(self):
        self.hook('echo "$CONVEYOR_APP $CONVEYOR_ENV $CONVEYOR_ACTION $CONVEYOR_TAG $CONVEYOR_GIT_SHA '
                  '$CONVEYOR_COLOR $CONVEYOR_PORT $CONVEYOR_APP_PATH" > hook.out\n')
        _, events, _ = captured(before_switch_hook, plan_for(self.app), self.paths, "blue", 8081)
        self.assertEqual(events, [{"event": "hook", "name": "before-switch"}])
        with open(os.path.join(self.app, "hook.out")) as f:
            self.assertEqual(f.read(), f"shop staging deploy v2 abc1234 blue 8081 {self.app}\n")
        self.assertFalse(os.path.exists(os.path.join(self.paths.runs, "r1.before-switch")))

    def test_a_failing_hook_stops_the_release_with_its_error(self):
        self.hook("echo 'not today' >&2; exit 3\n")
        with self.assertRaises(Failure) as failed:
            captured(before_switch_hook, plan_for(self.app), self.paths, None, 8080)
        self.assertEqual((str(failed.exception), failed.exception.phase),
                         ("the before-switch hook failed (exit 3): not today", "switch"))


class RecreateRestoreTest(AppTestCase):
    def read(self, *parts):
        with open(os.path.join(self.app, *parts)) as f:
            return f.read()

    def test_a_failed_recreate_brings_back_the_compose_files_and_secrets_that_served(self):
        log = os.path.join(self.tmp.name, "compose.log")
        compose = fake_command(self.tmp.name, "compose", f'echo "$IMAGE_TAG $*" >> {log}\n')
        plan = plan_for(self.app, compose_command=compose, secrets={"names": ["A_KEY", "B_KEY"], "hash": "sha256:new"})
        self.write(plan["compose_file"], "# the new release's compose file\n")
        self.write(os.path.join(self.app, "docker-compose.yml"), "# the compose file that served\n")
        self.write(os.path.join(self.app, "docker-compose.secrets.yml"), "# the secrets that served\n")
        self.write(os.path.join(self.app, "secrets", "A_KEY"), "old-a", 0o444)
        os.chmod(os.path.join(self.app, "secrets"), 0o700)
        self.write(os.path.join(self.app, ".env"), "IMAGE_TAG=v1\nCOMPOSE_FILE=docker-compose.yml:docker-compose.secrets.yml\n")
        state = {"current": {"tag": "v1", "git_sha": "aaa1111", "color": None}}
        release = Release(plan, {"secrets": {"A_KEY": "new-a", "B_KEY": "new-b"}})
        with self.assertRaises(Failure):  # nothing answers on the public port: the gate fails
            captured(release.recreate, state, state["current"], {})
        self.assertEqual(self.read("docker-compose.yml"), "# the compose file that served\n")
        self.assertEqual(self.read("docker-compose.secrets.yml"), "# the secrets that served\n")
        self.assertEqual(os.listdir(os.path.join(self.app, "secrets")), ["A_KEY"])
        self.assertEqual(self.read("secrets", "A_KEY"), "old-a")
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.app, "secrets")).st_mode), 0o700)
        env = self.read(".env")
        self.assertIn("IMAGE_TAG=v1\n", env)
        self.assertIn("COMPOSE_FILE=docker-compose.yml:docker-compose.secrets.yml\n", env)
        with open(log) as f:
            self.assertEqual(f.read().splitlines()[-1], "v1 up -d --remove-orphans")
        self.assertEqual(sorted(n for n in os.listdir(self.app) if n.startswith(".")), [".conveyor", ".env", ".tag"])  # no copy left


class ReleaseEndsEarlyTest(AppTestCase):
    def test_a_live_holder_ends_it_with_exit_4_and_nothing_recorded(self):
        holder = Lock(self.paths, "bob", "deploy", "v9", "run-b")
        holder.acquire(0)
        self.addCleanup(holder.release)
        code, events, _ = captured(Release(plan_for(self.app), {}).run)
        self.assertEqual(code, 4)
        self.assertEqual({k: result_of(events)[k] for k in ("status", "alive", "pid")},
                         {"status": "lock-held", "alive": True, "pid": os.getpid()})
        self.assertEqual(self.history_lines(), [])

    def test_another_environment_in_the_folder_is_refused_and_recorded(self):
        save_state(self.paths, {"env": "production", "current": {"tag": "v5"}})
        code, events, _ = captured(Release(plan_for(self.app), {}).run)
        self.assertEqual(code, 1)
        result = result_of(events)
        self.assertEqual((result["status"], result["phase"]), ("failed", "lock"))
        self.assertIn("holds shop of environment 'production'; this 'staging' deploy would replace it", result["error"])
        self.assertEqual(self.history_lines()[-1]["result"], "failed")
        self.assertFalse(os.path.exists(self.paths.lock))

    def pull_folders(self):
        """The registry logins' folders (conveyor-pull-*) left in the temp dir of this test."""
        return [n for n in os.listdir(self.tempdir) if n.startswith("conveyor-pull-")]

    def login_in_tempdir(self):
        self.tempdir = os.path.join(self.tmp.name, "tmp")
        os.makedirs(self.tempdir)
        patcher = mock.patch.object(tempfile, "tempdir", self.tempdir)
        patcher.start()
        self.addCleanup(patcher.stop)
        return {"user": "ci", "password": "s3cret"}

    def test_a_held_lock_leaves_no_registry_login_on_the_host(self):
        auth = self.login_in_tempdir()
        holder = Lock(self.paths, "bob", "deploy", "v9", "run-b")
        holder.acquire(0)
        self.addCleanup(holder.release)
        code, _, _ = captured(Release(plan_for(self.app), auth).run)
        self.assertEqual(code, 4)
        self.assertEqual(self.pull_folders(), [])

    def test_a_host_folder_that_cannot_be_made_leaves_no_registry_login(self):
        auth = self.login_in_tempdir()
        release = Release(plan_for(self.app), auth)
        with mock.patch("os.makedirs", side_effect=PermissionError(13, "Permission denied")):
            with self.assertRaises(PermissionError):
                captured(release.run)
        self.assertEqual(self.pull_folders(), [])

    def test_a_lock_that_cannot_be_taken_leaves_no_registry_login(self):
        auth = self.login_in_tempdir()
        release = Release(plan_for(self.app), auth)
        with mock.patch.object(Lock, "acquire", side_effect=OSError(28, "No space left on device")):
            with self.assertRaises(OSError):
                captured(release.run)
        self.assertEqual(self.pull_folders(), [])

    def test_a_release_that_ends_before_its_pull_leaves_no_registry_login(self):
        auth = self.login_in_tempdir()
        save_state(self.paths, {"env": "production", "current": {"tag": "v5"}})
        code, _, _ = captured(Release(plan_for(self.app), auth).run)
        self.assertEqual(code, 1)
        self.assertEqual(self.pull_folders(), [])

    def test_a_secret_that_did_not_arrive_is_refused_before_anything_changes(self):
        plan = plan_for(self.app, secrets={"names": ["API_KEY"], "hash": "sha256:x"})
        code, events, _ = captured(Release(plan, {"secrets": {}}).run)
        self.assertEqual(code, 1)
        self.assertEqual(result_of(events)["error"], "the plan's secret API_KEY did not reach the host")
        self.assertFalse(os.path.exists(os.path.join(self.app, "secrets")))


def prometheus(total, errors=0):
    """An app's Prometheus text with `total` requests, `errors` of them answered 500."""
    return "".join(
        f'http_request_duration_seconds_{kind}{{{le}route="/api/items",status="{status}"}} {count}\n'
        for status, count in (("200", total - errors), ("500", errors))
        for kind, le in (("bucket", 'le="0.1",'), ("bucket", 'le="+Inf",'), ("count", ""))
    )


class CanaryTest(AppTestCase):
    """Release.canary against a fake HAProxy and a fake canary whose counters follow a script:
    `counters(n)` gives the nth scrape's (requests, 5xx), or None for no answer (503)."""

    SPEC = {"steps": [10, 50, 100], "pause": 0.4, "interval": 0.05, "max_error_ratio": 0.05, "max_p99": 0.5, "min_requests": 5}

    def setUp(self):
        super().setUp()
        self.haproxy = FakeHaproxy(self.paths.proxy_sock, live="blue")
        self.addCleanup(self.haproxy.close)
        self.drains = []
        patcher = mock.patch("conveyor_host.release.schedule_drain_stop",
                             lambda paths, plan, color, switch_id: self.drains.append(color))
        patcher.start()
        self.addCleanup(patcher.stop)

    def run_canary(self, counters):
        scrapes = []

        def answer(path):
            scrapes.append(path)
            c = counters(len(scrapes))
            return (503, "") if c is None else (200, prometheus(*c))

        server = FakeHttp(answer)
        self.addCleanup(server.close)
        self.port = server.port
        plan = plan_for(self.app, strategy="blue-green", canary=dict(self.SPEC))
        plan["color_ports"]["green"]["backend"] = server.port
        buffer = io.StringIO()
        started = time.monotonic()
        failure = None
        with contextlib.redirect_stdout(buffer):
            try:
                Release(plan, {}).canary("blue", "green", self.paths.color_dir("green"), {})
            except Failure as f:
                failure = f
        events = [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]
        return failure, events, time.monotonic() - started

    def assert_aborted(self, failure, events, reason):
        self.assertIsNotNone(failure, "the canary was promoted")
        self.assertEqual(failure.phase, "canary")
        self.assertRegex(str(failure), "^canary " + re.escape(reason) + r"; weight 0 since \d{4}-")
        self.assertEqual([e["reason"] for e in events if e["event"] == "canary-abort"], [reason])
        self.assertEqual((self.haproxy.weight[("backend", "green")], self.haproxy.op[("backend", "green")]), (0, 0))
        self.assertEqual((self.haproxy.weight[("backend", "blue")], self.haproxy.op[("backend", "blue")]), (100, 2))
        self.assertEqual(self.drains, ["green"])

    def weights_set(self):
        return [line for line in self.haproxy.lines if line.startswith("set weight backend/green")]

    def test_a_healthy_canary_goes_through_its_steps(self):
        failure, events, _ = self.run_canary(lambda n: (10 * n, 0))
        self.assertIsNone(failure)
        self.assertEqual([e["weight"] for e in events if e.get("phase") == "canary"], [10, 50])
        self.assertEqual(self.drains, [])

    def test_a_canary_that_stops_answering_its_metrics_fails(self):
        failure, events, _ = self.run_canary(lambda n: (10 * n, 0) if n <= 3 else None)
        self.assert_aborted(failure, events, f"does not answer /metrics on port {self.port}")

    def test_a_canary_that_does_not_answer_from_the_start_takes_no_request(self):
        failure, events, _ = self.run_canary(lambda n: None)
        self.assert_aborted(failure, events, f"does not answer /metrics on port {self.port}")
        self.assertEqual(self.weights_set(), ["set weight backend/green 0"])

    def test_a_canary_that_restarts_fails(self):
        failure, events, _ = self.run_canary(lambda n: (10 * n, 0) if n <= 4 else (n - 4, 0))
        self.assert_aborted(failure, events, "counters went down since the last scrape (40 requests, 0 5xx; now 1, 0): "
                                             "it restarted, and what it answered before is no longer counted")

    def test_an_abort_on_request_names_who_asked(self):
        abort_file = os.path.join(self.paths.state_dir, "abort")

        def counters(n):
            if n == 2:  # once the canary takes requests: what `abort APP anna` writes
                with open(abort_file, "w") as f:
                    f.write("2026-12-06T03:00:00Z anna (Ctrl-C)\n")
            return (10 * n, 0)

        failure, events, _ = self.run_canary(counters)
        self.assert_aborted(failure, events, "aborted on request by anna (Ctrl-C)")
        self.assertFalse(os.path.exists(abort_file))

    def test_a_step_too_few_requests_reached_fails_at_its_end_not_before(self):
        failure, events, elapsed = self.run_canary(lambda n: (2, 0))
        self.assert_aborted(failure, events, "had only 0 requests in this step, fewer than min_requests 5 (no data counts as failure)")
        self.assertGreaterEqual(elapsed, self.SPEC["pause"])
        self.assertEqual(self.weights_set(), ["set weight backend/green 10", "set weight backend/green 0"])
