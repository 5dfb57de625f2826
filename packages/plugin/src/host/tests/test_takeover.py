"""takeover: a compose project of this app and environment running from another folder is named
before anything changes (a live clash, an abandoned release, a moved deploy_path), and taken over
only when the plan says so."""
import os

from conveyor_host.common import Failure
from conveyor_host.engine import Engine
from conveyor_host.takeover import Foreign, check_projects, project_containers
from tests.support import AppTestCase, fake_command

# What the fake engine runs: project, container id, running, created, working dir (one a line).
ENGINE = """\
DATA="$(dirname "$0")/containers"
project=$(echo "$*" | sed -n 's/.*com.docker.compose.project=\\([^ ]*\\).*/\\1/p')
case "$1 $2 $3" in
  "ps -a -q") awk -v p="$project" '$1 == p { print $2 }' "$DATA";;
  "ps -a --filter") awk -v p="$project" '$1 == p { print $5 }' "$DATA";;
  "inspect --format "*) awk -v c="$4" '$2 == c { print $3 "|" $4 "|" $5 }' "$DATA";;
esac
"""


class TakeOverTest(AppTestCase):
    def setUp(self):
        super().setUp()
        self.engine = Engine({"engine_command": fake_command(self.tmp.name, "engine", ENGINE), "compose_command": "false"})
        self.other = os.path.join(self.tmp.name, "other", "shop")
        self.plan = {"app": "shop", "env": "staging", "project_prefix": "shop-staging"}

    def containers(self, *rows):
        self.write(os.path.join(self.tmp.name, "containers"), "".join(" ".join(r) + "\n" for r in rows))

    def test_nothing_else_runs(self):
        self.containers()
        self.assertEqual(check_projects(self.engine, self.plan, self.paths), [])

    def test_the_apps_own_folders_are_its_own(self):
        blue = self.paths.color_dir("blue")
        self.write(os.path.join(blue, "docker-compose.yml"), "services: {}\n")
        self.containers(("shop-staging-blue", "c1", "true", "2025-01-01T00:00:00Z", blue))
        self.assertEqual(check_projects(self.engine, self.plan, self.paths), [])

    def test_a_live_clash_names_both_folders_and_the_move(self):
        folder = os.path.join(self.other, "blue")
        self.write(os.path.join(folder, "docker-compose.yml"), "services: {}\n")
        self.containers(("shop-staging-blue", "c1", "true", "2025-01-01T00:00:00Z", folder))
        with self.assertRaises(Failure) as failed:
            check_projects(self.engine, self.plan, self.paths)
        message = str(failed.exception)
        self.assertEqual(failed.exception.phase, "lock")
        self.assertIn(f"compose project shop-staging-blue already runs from {folder}, not {self.paths.color_dir('blue')}", message)
        self.assertIn(f"move the release: nx run shop:deploy --configuration=staging --moveFrom={os.path.dirname(self.other)}", message)

    def test_an_abandoned_release_is_named_with_the_way_to_retire_it(self):
        gone = os.path.join(self.tmp.name, "gone", "shop", "green")
        self.containers(("shop-staging-green", "c2", "true", "2025-01-01T00:00:00Z", gone))
        with self.assertRaises(Failure) as failed:
            check_projects(self.engine, self.plan, self.paths)
        self.assertIn(f"compose project shop-staging-green runs from {gone}, but its folder is gone", str(failed.exception))
        self.assertIn("Retire it with: nx run shop:deploy --configuration=staging --replaceAbandoned", str(failed.exception))

    def test_replace_abandoned_takes_the_abandoned_release_over(self):
        gone = os.path.join(self.tmp.name, "gone", "shop")
        self.containers(("shop-staging-proxy", "p1", "true", "2025-01-01T00:00:00Z", os.path.join(gone, "proxy")),
                        ("shop-staging-blue", "b1", "false", "2025-01-01T00:00:00Z", os.path.join(gone, "blue")),
                        ("shop-staging-blue", "b2", "true", "2025-01-02T00:00:00Z", os.path.join(gone, "blue")))
        foreign = check_projects(self.engine, {**self.plan, "take_over": {"kind": "abandoned"}}, self.paths)
        self.assertEqual(sorted((f.project, f.app_path, f.gone) for f in foreign),
                         [("shop-staging-blue", gone, True), ("shop-staging-proxy", gone, True)])
        blue = next(f for f in foreign if f.project == "shop-staging-blue")
        self.assertEqual(blue.ids(), ["b1", "b2"])
        self.assertEqual(blue.ids(running_only=True), ["b2"])

    def test_replace_abandoned_with_nothing_abandoned_is_refused(self):
        self.containers()
        with self.assertRaises(Failure) as failed:
            check_projects(self.engine, {**self.plan, "take_over": {"kind": "abandoned"}}, self.paths)
        self.assertEqual(str(failed.exception), "no abandoned release of shop (staging) runs on this host: nothing to "
                                                "take over; deploy without --replaceAbandoned")

    def test_a_move_takes_over_the_old_deploy_path(self):
        folder = os.path.join(self.other, "green")
        self.write(os.path.join(folder, "docker-compose.yml"), "services: {}\n")
        self.containers(("shop-staging-green", "g1", "true", "2025-01-01T00:00:00Z", folder))
        foreign = check_projects(self.engine, {**self.plan, "take_over": {"kind": "move", "from": self.other}}, self.paths)
        self.assertEqual([(f.project, f.app_path, f.gone) for f in foreign], [("shop-staging-green", self.other, False)])
        with self.assertRaises(Failure) as failed:
            check_projects(self.engine, {**self.plan, "take_over": {"kind": "move", "from": "/nowhere/shop"}}, self.paths)
        self.assertIn("compose project shop-staging-green already runs from", str(failed.exception))

    def test_a_move_from_a_path_running_nothing_is_refused(self):
        self.containers()
        with self.assertRaises(Failure) as failed:
            check_projects(self.engine, {**self.plan, "take_over": {"kind": "move", "from": self.other}}, self.paths)
        self.assertEqual(str(failed.exception), f"{self.other} runs no release of shop (staging): nothing to take over; "
                                                "deploy without --moveFrom")

    def test_containers_are_the_projects_in_that_folder_only(self):
        self.containers(("shop-staging", "r1", "true", "2025-01-01T00:00:00Z", "/a/shop"),
                        ("shop-staging", "r2", "true", "2025-01-01T00:00:00Z", "/b/shop"))
        self.assertEqual(project_containers(self.engine, "shop-staging", "/a/shop"), [("r1", True, "2025-01-01T00:00:00Z")])
        f = Foreign(self.engine, "shop-staging", "/b/shop")
        self.assertEqual((f.app_path, f.gone, f.ids()), ("/b/shop", True, ["r2"]))
