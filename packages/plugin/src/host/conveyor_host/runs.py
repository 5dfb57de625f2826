"""A release runs detached from the caller's connection: a process of its own session writes its
progress to runs/<run_id>.log, which the caller (or `follow`, after a cut connection) reads until
the result. Also the plan file, read and checked."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

from .common import now, out, read_json, self_command, write_atomic, write_json
from .lock import record_worker
from .release import Release
from .state import Paths


def load_plan(path):
    if path == "-":
        try:
            plan = json.loads(sys.stdin.read())
        except ValueError:
            plan = None
    else:
        plan = read_json(path)
    if not isinstance(plan, dict) or plan.get("version") != 1:
        raise SystemExit(f"{path}: not a Conveyor release plan (version 1)")
    return plan


def detached_release(plan_path, auth):
    """Runs the release in a process of its own session, which a cut connection or a killed
    caller does not stop: the release always ends in a consistent state. The caller follows its
    output until it ends."""
    plan = load_plan(plan_path)
    paths = Paths(plan["app_path"])
    os.makedirs(paths.runs, mode=0o750, exist_ok=True)
    write_json(os.path.join(paths.state_dir, "engine.json"),
               {"engine_command": plan["engine_command"], "compose_command": plan["compose_command"], "components": plan["components"]})
    log_path = os.path.join(paths.runs, plan["run_id"] + ".log")
    auth_fd_r, auth_fd_w = os.pipe()
    log = open(log_path, "w")
    child = subprocess.Popen(
        [*self_command(), "release-worker", plan_path],
        stdin=auth_fd_r, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
    )
    os.close(auth_fd_r)
    record_worker(paths, plan["run_id"], child.pid)
    os.write(auth_fd_w, json.dumps(auth or {}).encode())
    os.close(auth_fd_w)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    watched = Watch(paths, plan)
    with open(log_path) as f:
        while True:
            line = f.readline()
            if line:
                try:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                except (BrokenPipeError, OSError):
                    watched.caller_gone()
                continue
            watched.beat()
            if child.poll() is not None:
                rest = f.read()
                if rest:
                    try:
                        sys.stdout.write(rest)
                        sys.stdout.flush()
                    except (BrokenPipeError, OSError):
                        pass
                break
            time.sleep(0.05)
    prune_runs(paths)
    return child.returncode


class Watch:
    """A canary is watched by its deploy: once the caller's connection is gone (Ctrl-C, a killed
    deploy, a lost network), the canary is aborted (weight 0, the stable colour serving) rather
    than promoted with nobody watching. Any other release goes on to its end. The connection is
    probed with an empty line every second (the caller skips lines that are not JSON): a write
    to a connection that closed fails."""

    def __init__(self, paths, plan, every=1.0):
        self.paths, self.plan, self.every = paths, plan, every
        self.canary = bool(plan.get("canary"))
        self.gone = False
        self.last = time.monotonic()

    def beat(self, stream=None):
        if not self.canary or self.gone or time.monotonic() - self.last < self.every:
            return
        self.last = time.monotonic()
        try:
            (stream or sys.stdout).write("\n")
            (stream or sys.stdout).flush()
        except (BrokenPipeError, OSError, ValueError):
            self.caller_gone()

    def caller_gone(self):
        if self.gone or not self.canary:
            self.gone = True
            return
        self.gone = True
        who = f"{self.plan.get('deployer') or 'unknown'} (its deploy's connection closed: Ctrl-C, or a cut)"
        write_atomic(os.path.join(self.paths.state_dir, "abort"), f"{now()} {who}\n")


def self_archive():
    """The zipapp this program runs from, or None when it runs from the package folder."""
    archive = self_command()[1]
    return archive if os.path.isfile(archive) else None


def file_sha256(path):
    if path is None:
        return None
    with open(path, "rb") as f:
        return "sha256:" + hashlib.sha256(f.read()).hexdigest()


def bundle_release(expected):
    """A whole release over one connection. When this helper is the one the executor ships (its
    sha256 is `expected`), the run's files come on stdin (plan, compose file, override, the hook
    before the switch) with the registry login and the secrets; they are written in place and the
    release runs as `release` runs it. Otherwise nothing is read or written and the result says
    `outdated`: the executor installs this version and asks again."""
    actual = file_sha256(self_archive())
    if actual != expected:
        out("result", status="outdated", have=actual or "", want=expected)
        return 75
    try:
        bundle = json.loads(sys.stdin.read() or "{}")
    except ValueError:
        bundle = None
    if not isinstance(bundle, dict) or not isinstance(bundle.get("plan"), str):
        raise SystemExit("release-bundle: stdin is not a Conveyor release bundle")
    for f in bundle.get("files", []):
        os.makedirs(os.path.dirname(f["path"]), mode=0o750, exist_ok=True)
        write_atomic(f["path"], f["content"], int(f.get("mode", "640"), 8))
    for path in bundle.get("remove", []):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    return detached_release(bundle["plan"], bundle.get("auth") or {})


def prune_runs(paths):
    logs = sorted((os.path.join(paths.runs, f) for f in os.listdir(paths.runs)), key=os.path.getmtime)
    for path in logs[:-20]:
        os.unlink(path)


def release_worker(plan_path):
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    auth = json.loads(sys.stdin.read() or "{}")
    plan = load_plan(plan_path)
    try:
        return Release(plan, auth).run()
    finally:
        try:
            os.unlink(plan_path)
        except OSError:
            pass


def follow(app_path, run_id, wait_seconds=900):
    """Prints a run's progress lines as the release writes them, until its result."""
    path = os.path.join(Paths(app_path).runs, run_id + ".log")
    deadline = time.monotonic() + float(wait_seconds)
    while not os.path.exists(path):
        if time.monotonic() >= deadline:
            return 1
        time.sleep(0.05)
    with open(path) as f:
        while time.monotonic() < deadline:
            line = f.readline()
            if not line:
                time.sleep(0.05)
                continue
            try:
                sys.stdout.write(line)
                sys.stdout.flush()
            except (BrokenPipeError, OSError):
                return 0
            if '"event": "result"' in line:
                return 0
    return 1
