"""build: the zipapp is the same bytes for the same sources, holds the package and its entry, and
runs by its first line as well as with python3, as the playbook and the SSH commands run it."""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile

import build


class BuildTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.archive = os.path.join(self.tmp.name, "conveyor-host.pyz")

    def sha(self, path):
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    def test_the_same_sources_give_the_same_bytes(self):
        first = build.build(self.archive)
        self.assertEqual(self.sha(self.archive), first)
        os.unlink(self.archive)
        self.assertEqual(build.build(self.archive), first)
        other = os.path.join(self.tmp.name, "again.pyz")
        self.assertEqual(build.build(other), first)

    def test_a_changed_module_changes_the_archive(self):
        first = build.archive()
        source = os.path.join(self.tmp.name, "src")
        shutil.copytree(build.HERE, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyz", "tests"))
        with open(os.path.join(source, "conveyor_host", "common.py"), "a") as f:
            f.write("\n")
        p = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import build; "
                            "sys.stdout.buffer.write(build.archive())", source], capture_output=True, check=True)
        self.assertNotEqual(p.stdout, first)

    def test_the_archive_holds_the_package_sorted_with_one_timestamp_and_mode(self):
        build.build(self.archive)
        with open(self.archive, "rb") as f:
            self.assertEqual(f.readline(), b"#!/usr/bin/env python3\n")
        self.assertEqual(os.stat(self.archive).st_mode & 0o777, 0o755)
        with zipfile.ZipFile(self.archive) as z:
            infos = z.infolist()
        names = [i.filename for i in infos]
        self.assertEqual(names, sorted(names))
        self.assertEqual(names[0], "__main__.py")
        modules = sorted(n for n in os.listdir(os.path.join(build.HERE, "conveyor_host")) if n.endswith(".py"))
        self.assertEqual(names[1:], [f"conveyor_host/{n}" for n in modules])
        self.assertEqual({i.date_time for i in infos}, {(1980, 1, 1, 0, 0, 0)})
        self.assertEqual({i.external_attr >> 16 for i in infos}, {0o100644})
        self.assertEqual({i.compress_type for i in infos}, {zipfile.ZIP_STORED})

    def test_it_runs_by_its_first_line_and_with_python3(self):
        build.build(self.archive)
        for argv in ([self.archive], [sys.executable, self.archive], ["python3", self.archive]):
            p = subprocess.run(argv, capture_output=True, text=True, cwd=self.tmp.name)
            self.assertEqual(p.returncode, 64, argv)
            self.assertIn("conveyor-host.pyz status APP_PATH", p.stderr)
            p = subprocess.run([*argv, "status", self.tmp.name], capture_output=True, text=True)
            self.assertEqual((p.returncode, p.stdout[:14]), (0, '{"app_path": "'), argv)

    def test_a_build_over_the_same_bytes_leaves_the_file_alone(self):
        build.build(self.archive)
        os.utime(self.archive, (1000, 1000))
        build.build(self.archive)
        self.assertEqual(os.stat(self.archive).st_mtime, 1000)
