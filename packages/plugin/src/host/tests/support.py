"""What the tests share: an app folder in a temp dir, the helper's output captured, and fakes of
what the helper talks to (HAProxy's runtime socket, an app's HTTP port, the engine's and compose's
command lines), each small enough to read in the test that uses it."""
import contextlib
import http.server
import io
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import unittest

from conveyor_host.state import Paths

HOST_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class AppTestCase(unittest.TestCase):
    """A fresh app folder with its state folder for every test."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="conveyor-host-test-")
        self.addCleanup(self.tmp.cleanup)
        self.app = os.path.join(self.tmp.name, "app")
        self.paths = Paths(self.app)
        os.makedirs(self.paths.state_dir)

    def write(self, path, text, mode=None):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        if mode is not None:
            os.chmod(path, mode)
        return path

    def history_lines(self):
        if not os.path.exists(self.paths.history):
            return []
        with open(self.paths.history) as f:
            return [json.loads(line) for line in f if line.strip()]


def captured(fn, *args, **kwargs):
    """(return value, the JSON lines it printed, the other lines it printed)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        value = fn(*args, **kwargs)
    lines = buffer.getvalue().splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    return value, events, [line for line in lines if not line.startswith("{")]


def result_of(events):
    return next(e for e in events if e.get("event") == "result")


def fake_command(folder, name, script):
    """An executable shell script standing in for the engine's or compose's command line."""
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + script)
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
    return path


class FakeHaproxy:
    """HAProxy's runtime API on a unix socket, as the helper uses it: `show info`, `show servers
    state`, `set server B/S state ready|maint` and `set weight B/S N`, several on one line joined
    by "; ". Every server starts in maintenance except those of `live`; `refuse` answers every set
    command with an error, as HAProxy does for an unknown server. The first `hang_up` connections
    are closed unanswered (a timeout, a worker leaving). With `reload_on` = (signal file, haproxy.cfg),
    once the signal file appears (the fake engine's `kill`), the next connection meets a new worker
    on that configuration: its servers, ready unless disabled, at weight 100."""

    def __init__(self, sock_path, components=("backend",), live=None, refuse=False, hang_up=0, reload_on=None):
        self.path = sock_path
        self.refuse = refuse
        self.hang_up = hang_up
        self.reload_on = reload_on
        self.lines = []
        self.op = {(c, color): 2 if color == live else 0 for c in components for color in ("blue", "green")}
        self.weight = {k: 100 for k in self.op}
        os.makedirs(os.path.dirname(sock_path), exist_ok=True)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(sock_path)
        self.server.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            if self.hang_up:
                self.hang_up -= 1
                conn.close()
                continue
            if self.reload_on and os.path.exists(self.reload_on[0]):
                os.unlink(self.reload_on[0])
                self._load(self.reload_on[1])
            with conn:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                line = data.decode().strip()
                self.lines.append(line)
                conn.sendall("".join(self._answer(c.strip()) for c in line.split(";")).encode())

    def _load(self, config):
        self.op, backend = {}, None
        with open(config) as f:
            for words in (line.split() for line in f):
                if words[:1] == ["backend"]:
                    backend = words[1]
                elif words[:1] == ["server"] and backend:
                    self.op[(backend, words[1])] = 0 if "disabled" in words else 2
        self.weight = {k: 100 for k in self.op}

    def _answer(self, command):
        words = command.split()
        if command == "show info":
            return "Name: HAProxy\n"
        if command == "show servers state":
            rows = ["1", "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight"]
            for i, ((backend, color), op) in enumerate(sorted(self.op.items())):
                admin = "0" if op == 2 else "1"
                rows.append(f"3 {backend} {i + 1} {color} 127.0.0.1 {op} {admin} {self.weight[(backend, color)]}")
            return "\n".join(rows) + "\n"
        if self.refuse:
            return f"No such server '{words[2] if len(words) > 2 else ''}'.\n"
        if words[:2] == ["set", "server"] and words[3] == "state":
            backend, color = words[2].split("/")
            self.op[(backend, color)] = 2 if words[4] == "ready" else 0
            return ""
        if words[:2] == ["set", "weight"]:
            backend, color = words[2].split("/")
            self.weight[(backend, color)] = int(words[3])
            return ""
        return f"Unknown command '{command}'\n"

    def close(self):
        self.server.close()


class FakeHttp:
    """An app's port on 127.0.0.1: answers every GET with (status, body) from `answer(path)`, and
    records the paths asked for."""

    def __init__(self, answer):
        self.paths = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.paths.append(self.path)
                status, body = answer(self.path)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def plan_for(app, **extra):
    """A release plan as the executor writes it (version 1), for a recreate release of shop on staging
    whose engine and compose are `false`: every release here stops before a container would start."""
    return {
        "version": 1, "run_id": "r1", "action": "deploy", "app": "shop", "env": "staging", "deployer": "anna",
        "app_path": app, "strategy": "recreate", "components": ["backend"], "public_ports": {"backend": free_port()},
        "color_ports": {"blue": {"backend": free_port()}, "green": {"backend": free_port()}},
        "project_prefix": "shop-staging", "registry": "localhost:5000",
        "target": {"tag": "v2", "git_sha": "abc1234", "images": {}}, "force": False, "health_timeout": 1,
        "lock_timeout": 0, "drain_seconds": 1, "proxy_image": "haproxy", "engine_command": "false",
        "compose_command": "false", "compose_file": os.path.join(app, ".conveyor", "runs", "r1.compose.yml"),
        "compose_env": {"LOG_LEVEL": "info"},
        "env_names": {"bind": "BIND", "image_tag": "IMAGE_TAG", "git_sha": "GIT_SHA", "deployed_at": "DEPLOYED_AT",
                      "ports": {"backend": "BACKEND_PORT"}},
        "gate": {"backend": "/health"}, "version_check": True, "checks": [], **extra,
    }


def free_port():
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def helper(*args, stdin=subprocess.DEVNULL, **kwargs):
    """The helper run from its sources as its own process (python3 -m conveyor_host ...)."""
    return subprocess.Popen([sys.executable, "-m", "conveyor_host", *args], cwd=HOST_DIR, stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def stop(process):
    """Ends a process a test started, if it still runs, and closes its pipes."""
    if process.poll() is None:
        process.kill()
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe:
            pipe.close()
    process.wait()
