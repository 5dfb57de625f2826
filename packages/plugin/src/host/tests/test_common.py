"""common: atomic files, .env files, progress lines, local HTTP, and how the helper runs itself again."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import build
from conveyor_host import common
from tests.support import FakeHttp, captured, free_port


class FilesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.dir = self.tmp.name

    def test_write_atomic_replaces_the_whole_file_with_its_mode_and_leaves_no_temp_file(self):
        path = os.path.join(self.dir, "f")
        common.write_atomic(path, "old and long\n")
        common.write_atomic(path, "new\n", 0o600)
        with open(path) as f:
            self.assertEqual(f.read(), "new\n")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        self.assertEqual(os.listdir(self.dir), ["f"])

    def test_write_atomic_into_a_missing_folder_fails_and_leaves_nothing(self):
        with self.assertRaises(OSError):
            common.write_atomic(os.path.join(self.dir, "missing", "f"), "x")
        self.assertEqual(os.listdir(self.dir), [])

    def test_write_json_is_sorted_and_indented_for_people_reading_the_host(self):
        path = os.path.join(self.dir, "s.json")
        common.write_json(path, {"b": 1, "a": {"d": 2, "c": 3}})
        with open(path) as f:
            self.assertEqual(f.read(), '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}\n')
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o640)

    def test_read_text_and_read_json_fall_back_to_their_default(self):
        missing = os.path.join(self.dir, "missing")
        self.assertEqual(common.read_text(missing), "")
        self.assertEqual(common.read_text(missing, "unknown"), "unknown")
        self.assertIsNone(common.read_json(missing))
        broken = os.path.join(self.dir, "broken.json")
        with open(broken, "w") as f:
            f.write("{not json")
        self.assertEqual(common.read_json(broken, {"d": 1}), {"d": 1})
        with open(broken, "w") as f:
            f.write("  v1\n\n")
        self.assertEqual(common.read_text(broken), "v1")

    def test_read_env_file_keeps_values_with_equals_signs_and_skips_comments(self):
        self.assertIsNone(common.read_env_file(self.dir))
        with open(os.path.join(self.dir, ".env"), "w") as f:
            f.write("# Written by Conveyor\nCOMPOSE_PROJECT_NAME=shop-staging-blue\nURL=postgres://u:p@db/x?a=b\n\nNOEQUALS\n")
        self.assertEqual(common.read_env_file(self.dir),
                         {"COMPOSE_PROJECT_NAME": "shop-staging-blue", "URL": "postgres://u:p@db/x?a=b"})

    def test_read_env_file_leaves_out_a_compose_file_gone_from_the_folder(self):
        # The user removed their override: the release bundle removed it from every folder, the
        # colour still running keeps naming it, and compose would refuse to stop or start it.
        for name in ("docker-compose.yml", "docker-compose.secrets.yml"):
            with open(os.path.join(self.dir, name), "w") as f:
                f.write("services: {}\n")
        with open(os.path.join(self.dir, ".env"), "w") as f:
            f.write("COMPOSE_FILE=docker-compose.yml:docker-compose.override.yml:docker-compose.secrets.yml\n")
        self.assertEqual(common.read_env_file(self.dir), {"COMPOSE_FILE": "docker-compose.yml:docker-compose.secrets.yml"})


class OutputTest(unittest.TestCase):
    def test_out_prints_one_json_line_with_every_field_escaped(self):
        _, events, other = captured(common.out, "result", status="failed", error='a "quoted"\nline\twith tab')
        self.assertEqual(other, [])
        self.assertEqual(events, [{"event": "result", "status": "failed", "error": 'a "quoted"\nline\twith tab'}])

    def test_out_survives_a_caller_that_went_away(self):
        class Gone:
            def write(self, _):
                raise BrokenPipeError()

            def flush(self):
                raise BrokenPipeError()

        real, sys.stdout = sys.stdout, Gone()
        try:
            common.out("phase", phase="pull")  # no exception: the release goes on
        finally:
            sys.stdout = real

    def test_failure_carries_its_phase_and_logs(self):
        f = common.Failure("the gate failed", "gate")
        self.assertEqual((str(f), f.phase, f.logs), ("the gate failed", "gate", ""))


class HttpTest(unittest.TestCase):
    def test_http_get_and_served_version(self):
        answers = {"/metrics": (200, json.dumps({"version": {"image_tag": "v2", "git_sha": "abc"}})),
                   "/health": (503, "")}
        server = FakeHttp(lambda path: answers.get(path, (404, "")))
        self.addCleanup(server.close)
        self.assertEqual(common.http_get(server.port, "/health"), (503, ""))
        self.assertEqual(common.served_version(server.port), {"image_tag": "v2", "git_sha": "abc"})
        self.assertTrue(common.port_in_use(server.port))

    def test_nothing_listening_is_status_0_and_no_version(self):
        port = free_port()
        self.assertEqual(common.http_get(port, "/health", timeout=1), (0, ""))
        self.assertIsNone(common.served_version(port))
        self.assertFalse(common.port_in_use(port))

    def test_a_metrics_page_that_is_not_json_is_no_version(self):
        server = FakeHttp(lambda path: (200, "# HELP text"))
        self.addCleanup(server.close)
        self.assertIsNone(common.served_version(server.port))


class SelfCommandTest(unittest.TestCase):
    """A release worker and a drain stop are this program started again: from the sources, the
    package folder; from the zipapp, the archive itself (the path the host's process list shows)."""

    def test_from_the_sources_it_is_the_package_folder(self):
        command = common.self_command()
        self.assertEqual(command[0], sys.executable)
        self.assertEqual(command[1], os.path.dirname(os.path.abspath(common.__file__)))
        p = subprocess.run([*command, "no-such-command"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 64)
        self.assertIn("unknown command 'no-such-command'", p.stderr)

    def test_from_the_zipapp_it_is_the_archive(self):
        with tempfile.TemporaryDirectory() as d:
            archive = os.path.join(d, "conveyor-host.pyz")
            build.build(archive)
            p = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                                "from conveyor_host.common import self_command; print(self_command()[1])", archive],
                               capture_output=True, text=True, cwd=d)
            self.assertEqual(p.stdout.strip(), archive)


if __name__ == "__main__":
    unittest.main()
