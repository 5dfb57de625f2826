"""engine: processes, the registry login of one run, what the engine holds and runs, ports."""
import base64
import json
import os
import socket
import stat
import tempfile
from unittest import mock

from conveyor_host.common import Failure
from conveyor_host.engine import Engine, RegistryLogin, check_image_ids, check_ports_free, pull_release, run
from tests.support import AppTestCase, captured, fake_command, free_port


class RunTest(AppTestCase):
    def test_output_and_environment(self):
        p = run(["sh", "-c", 'echo "$GREETING from $PWD"'], cwd=self.tmp.name, env={"GREETING": "hello"})
        self.assertEqual(p.stdout, f"hello from {self.tmp.name}\n")

    def test_a_failed_command_names_itself_its_exit_and_the_end_of_its_error(self):
        with self.assertRaises(Failure) as failed:
            run(["sh", "-c", "echo first >&2; echo 'the real reason' >&2; exit 3", "ignored"])
        self.assertEqual(str(failed.exception), "sh -c echo first >&2; echo 'the real reason' >&2; exit 3 failed (exit 3): first\nthe real reason")
        self.assertEqual(failed.exception.phase, "")
        self.assertEqual(run(["sh", "-c", "exit 5"], check=False).returncode, 5)

    def test_stdin_is_closed(self):
        self.assertEqual(run(["cat"]).stdout, "")


class EngineTest(AppTestCase):
    def engine(self, script):
        cli = fake_command(self.tmp.name, "engine", script)
        compose = fake_command(self.tmp.name, "compose", 'case " $* " in *" ps -q "*) echo c1; echo c2; echo c3;; esac\n')
        return Engine({"engine_command": cli, "compose_command": compose + " --ansi never"})

    def test_compose_command_is_split_into_words(self):
        self.assertEqual(Engine({"engine_command": "podman", "compose_command": "podman compose"}).compose, ["podman", "compose"])

    def test_image_id_and_repo_digests(self):
        engine = self.engine('case "$5" in\n'
                             '  *@sha256:b) [ "$4" = "{{.Id}}" ] && echo sha256:1111 || echo \'["r/shop_backend@sha256:b"]\';;\n'
                             '  *) exit 1;;\nesac\n')
        self.assertEqual(engine.image_id("r/shop_backend@sha256:b"), "sha256:1111")
        self.assertEqual(engine.repo_digests("r/shop_backend@sha256:b"), ["r/shop_backend@sha256:b"])
        self.assertEqual(engine.image_id("missing"), "")
        self.assertEqual(engine.repo_digests("missing"), [])

    def test_running_images_by_compose_service(self):
        engine = self.engine('case "$4" in c1) echo "true sha256:aaa backend";; c2) echo "false sha256:bbb frontend";;'
                             ' c3) echo "true sha256:ccc frontend";; esac\n')
        self.assertEqual(engine.running_images(self.tmp.name, {}), {"backend": "sha256:aaa", "frontend": "sha256:ccc"})
        check_image_ids(engine, self.tmp.name, {}, {"backend": "aaa", "frontend": "sha256:ccc"})
        with self.assertRaises(Failure) as failed:
            check_image_ids(engine, self.tmp.name, {}, {"backend": "sha256:fff"})
        self.assertEqual((str(failed.exception), failed.exception.phase),
                         ("backend runs image sha256:aaa, not the release's sha256:fff", "start"))
        with self.assertRaises(Failure) as failed:
            check_image_ids(engine, self.tmp.name, {}, {"worker": "sha256:aaa"})
        self.assertEqual(str(failed.exception), "worker is not running after the start")

    def test_pull_by_digest_checks_what_the_engine_holds(self):
        # The engine "has" the image once pulled; the tag then points at it.
        state = os.path.join(self.tmp.name, "pulled")
        engine = self.engine(
            f'STATE={state}\n'
            'case "$1" in\n'
            '  pull) touch $STATE;;\n'
            '  tag) touch $STATE.tagged;;\n'
            '  image)\n'
            '    case "$4:$5" in\n'
            '      "{{.Id}}:r/shop_backend@sha256:b") [ -e $STATE ] && echo sha256:1111 || exit 1;;\n'
            '      "{{.Id}}:r/shop_backend:v2") [ -e $STATE.tagged ] && echo sha256:1111 || exit 1;;\n'
            '      "{{json .RepoDigests}}:sha256:1111") echo \'["r/shop_backend@sha256:b"]\';;\n'
            '      *) exit 1;;\n'
            '    esac;;\n'
            'esac\n')
        release = {"tag": "v2", "images": {"backend": {"repository": "r/shop_backend", "digest": "sha256:b"}}}
        ids, events, _ = captured(pull_release, engine, {}, release, RegistryLogin("r", None))
        self.assertEqual(ids, {"backend": "sha256:1111"})
        self.assertEqual(events, [{"event": "pulled", "component": "backend", "image": "r/shop_backend@sha256:b"}])

    def test_a_pull_that_did_not_happen_fails_with_the_engines_last_line(self):
        engine = self.engine('case "$1" in pull) echo "Trying to pull..." >&2; echo "manifest unknown" >&2; exit 1;; *) exit 1;; esac\n')
        release = {"tag": "v2", "images": {"backend": {"repository": "r/shop_backend", "digest": "sha256:b"}}}
        with self.assertRaises(Failure) as failed:
            pull_release(engine, {}, release, RegistryLogin("r", None))
        self.assertEqual((str(failed.exception), failed.exception.phase),
                         ("image r/shop_backend@sha256:b is not on the host after the pull: manifest unknown", "pull"))


class RegistryLoginTest(AppTestCase):
    def test_credentials_live_in_a_private_folder_for_the_run_only(self):
        login = RegistryLogin("registry.example:5000", {"user": "ci", "password": "s3cret"})
        folder = login.env()["DOCKER_CONFIG"]
        self.assertEqual(stat.S_IMODE(os.stat(folder).st_mode), 0o700)
        config = os.path.join(folder, "config.json")
        self.assertEqual(stat.S_IMODE(os.stat(config).st_mode), 0o600)
        with open(config) as f:
            auth = json.load(f)["auths"]["registry.example:5000"]["auth"]
        self.assertEqual(base64.b64decode(auth).decode(), "ci:s3cret")
        login.close()
        self.assertFalse(os.path.exists(folder))

    def test_the_folder_is_made_only_when_a_pull_needs_it(self):
        tempdir = os.path.join(self.tmp.name, "tmp")
        os.makedirs(tempdir)
        with mock.patch.object(tempfile, "tempdir", tempdir):
            login = RegistryLogin("r", {"user": "ci", "password": "s3cret"})
            self.assertEqual(os.listdir(tempdir), [])
            folder = login.env()["DOCKER_CONFIG"]
            self.assertEqual(login.env(), {"DOCKER_CONFIG": folder})  # one folder for every pull
            self.assertEqual(os.listdir(tempdir), [os.path.basename(folder)])
            login.close()
            self.assertEqual(os.listdir(tempdir), [])

    def test_no_credentials_no_folder(self):
        for auth in (None, {}, {"user": "ci"}, {"user": "", "password": "x"}):
            login = RegistryLogin("r", auth)
            self.assertEqual(login.env(), {})
            login.close()


class PortsTest(AppTestCase):
    def test_a_port_held_by_something_else_is_refused_before_a_start(self):
        engine = Engine({"engine_command": "false", "compose_command": "false"})
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            with self.assertRaises(Failure) as failed:
                check_ports_free(engine, {"backend": port}, self.tmp.name, {}, "colour blue")
        self.assertEqual(str(failed.exception), f"port {port} (colour blue backend) is already in use on the host by "
                                                "something this release does not own; choose other ports")
        self.assertEqual(failed.exception.phase, "start")
        check_ports_free(engine, {"backend": free_port(), "frontend": 0}, self.tmp.name, {}, "public")
