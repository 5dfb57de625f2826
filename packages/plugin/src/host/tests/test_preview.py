"""Previews on a host: listed from their folders' state, and one removed with its containers, its
route on the edge and its folder, under its own lock; the profile's own environment untouched."""
import os
import tempfile
import unittest

from conveyor_host import preview
from conveyor_host.common import read_json, read_text, write_json
from conveyor_host.edge import EdgeFiles
from conveyor_host.lock import Lock
from conveyor_host.state import Paths, save_state

from .support import captured, fake_command, result_of


class PreviewTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="conveyor-preview-test-")
        self.addCleanup(self.tmp.cleanup)
        self.root = os.path.join(self.tmp.name, "previews")
        self.edge = os.path.join(self.tmp.name, "edge")

    def deployed(self, pr, app="shop", ports=None, domain=None):
        paths = Paths(os.path.join(self.root, f"pr-{pr}", app))
        os.makedirs(paths.state_dir)
        state = {"env": f"pr-{pr}", "project_prefix": f"{app}-pr-{pr}", "public_ports": ports or {"backend": 30000},
                 "current": {"tag": f"t{pr}"}}
        if domain:
            state["edge"] = {"domain": domain, "path": self.edge, "https_port": 443, "http_port": 80}
        save_state(paths, state)
        return paths

    def test_lists_each_preview_of_the_app_with_its_ports_name_and_release(self):
        self.deployed(7, ports={"backend": 30000, "frontend": 30001}, domain="pr-7.preview.test")
        self.deployed(12, ports={"backend": 30002})
        self.deployed(7, app="blog")
        os.makedirs(os.path.join(self.root, "not-a-preview", "shop", ".conveyor"))
        found = preview.list_previews(self.root, "shop")
        self.assertEqual([(p["pr"], p["tag"], p["ports"], p["domain"]) for p in found],
                         [(12, "t12", {"backend": 30002}, ""), (7, "t7", {"backend": 30000, "frontend": 30001}, "pr-7.preview.test")])
        self.assertTrue(all(p["updated"].endswith("Z") for p in found))
        self.assertEqual(preview.list_previews(os.path.join(self.tmp.name, "none"), "shop"), [])

    def engine(self, log):
        return fake_command(self.tmp.name, "engine", f"""echo "$*" >> {log}
case "$1" in ps) case "$*" in *project=shop-pr-7) echo c1; echo c2;; *project=shop-pr-7-proxy) echo c3;; esac;; inspect) exit 1;; esac
""")

    def test_destroy_removes_containers_route_and_folder_and_keeps_other_names(self):
        paths = self.deployed(7, domain="pr-7.preview.test")
        files = EdgeFiles(self.edge)
        os.makedirs(files.routes)
        write_json(files.route("pr-7.preview.test"), {"domain": "pr-7.preview.test", "owner": "shop/pr-7"})
        write_json(files.route("staging.test"), {"domain": "staging.test", "owner": "shop/staging"})
        log = os.path.join(self.tmp.name, "engine.log")
        spec = {"engine_command": self.engine(log), "compose_command": "docker compose", "project_prefix": "shop-pr-7",
                "edge": {"domain": "pr-7.preview.test", "owner": "shop/pr-7", "path": self.edge}}
        code, events, _ = captured(preview.destroy, paths.app, spec)
        self.assertEqual(code, 0)
        self.assertEqual(result_of(events)["containers"], 3)
        calls = read_text(log).splitlines()
        self.assertIn("rm -f -v c1 c2", calls)
        self.assertIn("rm -f -v c3", calls)
        self.assertFalse(os.path.exists(os.path.join(self.root, "pr-7")))
        self.assertIsNone(read_json(files.route("pr-7.preview.test")))
        self.assertEqual(read_json(files.route("staging.test"))["owner"], "shop/staging")
        # Gone is gone: a second destroy changes nothing.
        code, events, _ = captured(preview.destroy, paths.app, spec)
        self.assertEqual((code, result_of(events)["status"]), (0, "noop"))

    def test_a_name_another_owner_holds_is_left_alone(self):
        paths = self.deployed(7)
        files = EdgeFiles(self.edge)
        os.makedirs(files.routes)
        write_json(files.route("pr-7.preview.test"), {"domain": "pr-7.preview.test", "owner": "blog/pr-7"})
        spec = {"engine_command": self.engine(os.path.join(self.tmp.name, "log")), "compose_command": "docker compose",
                "project_prefix": "shop-pr-7", "edge": {"domain": "pr-7.preview.test", "owner": "shop/pr-7", "path": self.edge}}
        code, events, _ = captured(preview.destroy, paths.app, spec)
        self.assertEqual(code, 0)
        self.assertFalse(result_of(events)["unrouted"])
        self.assertEqual(read_json(files.route("pr-7.preview.test"))["owner"], "blog/pr-7")

    def test_a_preview_being_released_is_not_removed(self):
        paths = self.deployed(7)
        held = Lock(paths, "ci", "deploy")
        held.acquire(0)
        self.addCleanup(held.release)
        spec = {"engine_command": self.engine(os.path.join(self.tmp.name, "log")), "compose_command": "docker compose",
                "project_prefix": "shop-pr-7", "lock_timeout": 0}
        code, events, _ = captured(preview.destroy, paths.app, spec)
        self.assertEqual((code, result_of(events)["status"]), (4, "lock-held"))
        self.assertTrue(os.path.isdir(paths.state_dir))


if __name__ == "__main__":
    unittest.main()
