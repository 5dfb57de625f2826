"""The database's pure parts: URLs, .pgpass lines, the verify script's counts, the backups status,
and the migration check against the plan (with compose's `run` faked)."""
import calendar
import json
import os
import subprocess
import time
import unittest

from conveyor_host.common import Failure
from conveyor_host.database import (
    backups_status, compare_counts, Database, parse_counts, parse_url, pgpass_line,
)

from .support import AppTestCase, captured


class UrlTest(unittest.TestCase):
    def test_a_url_as_libpq_fields(self):
        c = parse_url("postgresql://app%40x:p%3Ass@db.example.com:6543/shop?sslmode=require")
        self.assertEqual(c, {"host": "db.example.com", "port": 6543, "user": "app@x", "password": "p:ss",
                             "dbname": "shop", "sslmode": "require"})

    def test_defaults_and_refusals(self):
        self.assertEqual(parse_url("postgres://u:p@h/")["dbname"], "u")
        self.assertEqual(parse_url("postgres://u:p@h/d")["port"], 5432)
        for bad in ("mysql://u:p@h/d", "postgres:///d", ""):
            with self.assertRaises(Failure):
                parse_url(bad)

    def test_pgpass_escapes_its_separators(self):
        line = pgpass_line({"host": "h", "port": 5432, "dbname": "d", "user": "u", "password": "a:b\\c"})
        self.assertEqual(line, "h:5432:d:u:a\\:b\\\\c\n")


class CountsTest(unittest.TestCase):
    OUT = "== dump\npublic.notes 3\npublic.pgmigrations 1\n== restored\npublic.notes 3\npublic.pgmigrations 1\n"

    def test_same_counts_pass(self):
        counts = parse_counts(self.OUT)
        self.assertEqual(counts["restored"], {"public.notes": 3, "public.pgmigrations": 1})
        self.assertEqual(compare_counts(counts), "")

    def test_a_difference_or_a_missing_table_is_named(self):
        self.assertIn("public.notes: 3 rows in the dump, 2 restored",
                      compare_counts(parse_counts(self.OUT.replace("== restored\npublic.notes 3", "== restored\npublic.notes 2"))))
        self.assertIn("table public.notes of the dump is missing",
                      compare_counts(parse_counts("== dump\npublic.notes 1\n== restored\n")))


class BackupsStatusTest(AppTestCase):
    def keep(self, name, verified=True):
        folder = os.path.join(self.app, "backups")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, name + ".dump"), "wb") as f:
            f.write(b"PGDMP")
        with open(os.path.join(folder, name + ".json"), "w") as f:
            json.dump({"name": name, "size": 5, "reason": "manual", "verified": {"tables": {}} if verified else None}, f)

    def test_none_kept(self):
        self.assertIsNone(backups_status(self.app))

    def test_newest_first_with_age_and_the_day_warning(self):
        self.keep("20261201T000000Z-manual")
        self.keep("20261202T000000Z-before-migration")
        at = calendar.timegm(time.strptime("20261202T060000Z", "%Y%m%dT%H%M%SZ"))
        s = backups_status(self.app, at)
        self.assertEqual([b["name"] for b in s["backups"]], ["20261202T000000Z-before-migration", "20261201T000000Z-manual"])
        self.assertEqual(s["backups"][0]["age_seconds"], 6 * 3600)
        self.assertEqual(s["warning"], "")
        s = backups_status(self.app, at + 86400)
        self.assertIn("older than a day", s["warning"])

    def test_unverified_backups_do_not_count(self):
        self.keep("20261202T000000Z-manual", verified=False)
        self.assertEqual(backups_status(self.app)["warning"], "no verified backup is kept")


class MigrateCheckTest(AppTestCase):
    """The plan's verdicts against what the new image says is pending; nothing runs when refused."""

    def database(self, checked, allow=False, pending=("2_add",)):
        spec = {"kind": "managed", "image": "postgres:17", "name": "app", "user": "app", "keep": 3,
                "migrate": {"service": "backend", "command": ["node", "migrate.js"], "pending_command": ["node", "migrate.js", "--pending"],
                            "checked": checked, "allow_breaking": allow}}
        db = Database(spec, None, self.app, "shop-staging", {"DATABASE_URL": "postgres://u:p@h/d"})
        self.runs = []
        self.backups = []

        def compose_run(args):
            self.runs.append(args)
            body = {"pending": list(pending)} if "--pending" in args else {"applied": list(pending)}
            return subprocess.CompletedProcess(args, 0, json.dumps(body) + "\n", "")

        db.backup = lambda reason, tag: self.backups.append(reason) or {"name": f"b-{reason}"}
        return db, compose_run

    def test_safe_pending_migrations_are_backed_up_then_run(self):
        db, compose_run = self.database({"1_init": [], "2_add": []})
        record = captured(db.migrate, compose_run, "v2")[0]
        self.assertEqual(record, {"migrations": ["2_add"], "backup": "b-before-migration"})
        self.assertEqual(self.backups, ["before-migration"])
        self.assertEqual(self.runs[-1], ["run", "--rm", "--no-deps", "-T", "backend", "node", "migrate.js"])

    def test_a_breaking_one_is_refused_before_anything_runs(self):
        db, compose_run = self.database({"2_add": ["2_add: `ALTER TABLE notes DROP COLUMN body` drops column notes.body. Safe way: later."]})
        with self.assertRaises(Failure) as raised:
            captured(db.migrate, compose_run, "v2")
        self.assertIn("DROP COLUMN body", str(raised.exception))
        self.assertIn("--allowBreakingMigration", str(raised.exception))
        self.assertEqual(raised.exception.phase, "migrate")
        self.assertEqual(self.backups, [])
        self.assertEqual(len(self.runs), 1)  # only the --pending question

    def test_an_unchecked_one_is_refused_too(self):
        db, compose_run = self.database({"1_init": []})
        with self.assertRaises(Failure) as raised:
            captured(db.migrate, compose_run, "v2")
        self.assertIn("2_add: not in the workspace's migrations", str(raised.exception))

    def test_allowed_runs_and_the_record_says_which(self):
        db, compose_run = self.database({"2_add": ["2_add: drops"]}, allow=True)
        record = captured(db.migrate, compose_run, "v2")[0]
        self.assertEqual(record["breaking_allowed"], ["2_add"])

    def test_with_no_release_live_nothing_can_break(self):
        db, compose_run = self.database({"2_add": ["2_add: drops"]})
        record = captured(db.migrate, compose_run, "v1", live=False)[0]
        self.assertEqual(record, {"migrations": ["2_add"], "backup": "b-before-migration"})

    def test_nothing_pending_runs_nothing(self):
        db, compose_run = self.database({}, pending=())
        self.assertEqual(captured(db.migrate, compose_run, "v2")[0], {})
        self.assertEqual(self.backups, [])


if __name__ == "__main__":
    unittest.main()
