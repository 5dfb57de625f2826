"""What every part of the helper shares: the failure a release step raises, the progress lines
for the caller (one JSON object a line), files written atomically, the .env of a release folder,
HTTP to a port on this host, and how this program runs itself again (a detached worker, a drain
stop). Imports nothing of the package, so every module can import it."""
import json
import os
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request

COLORS = ("blue", "green")


class Failure(Exception):
    """A release step failed; `phase` tells how far the release got."""

    def __init__(self, message, phase="", logs=""):
        super().__init__(message)
        self.phase = phase
        self.logs = logs


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def out(event, **fields):
    """One progress or result line for the caller (JSON: every field escaped)."""
    line = json.dumps({"event": event, **fields})
    try:
        print(line, flush=True)
    except (BrokenPipeError, OSError):
        pass  # the caller went away (connection cut): the release goes on


def read_text(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def write_atomic(path, text, mode=0o640):
    """Write then rename: a reader sees the old or the new content, never a part."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json(path, data, mode=0o640):
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode)


def http_get(port, path, timeout=3):
    """(status, body) of GET http://127.0.0.1:PORT/PATH; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, ""
    except Exception:  # noqa: BLE001 - refused, reset, timeout: not serving
        return 0, ""


def served_version(port):
    status, body = http_get(port, "/metrics")
    if status != 200:
        return None
    try:
        return json.loads(body).get("version", {})
    except ValueError:
        return None


def port_in_use(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", int(port))) == 0


def read_env_file(folder):
    path = os.path.join(folder, ".env")
    if not os.path.exists(path):
        return None
    env = {}
    for line in read_text(path).splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            env[k] = v
    # A file COMPOSE_FILE names that is gone from the folder (the user's override, removed from
    # the workspace and so from every release folder, the running colour's too) is left out:
    # compose refuses to run with one missing, and the colour could be neither stopped nor started.
    present = [f for f in env.get("COMPOSE_FILE", "").split(":") if f and os.path.exists(os.path.join(folder, f))]
    if present:
        env["COMPOSE_FILE"] = ":".join(present)
    return env


def self_command():
    """The argv that runs this program again (a detached release worker, a drain stop), with the
    interpreter that runs it now: the zipapp when it runs from one (conveyor-host.pyz, its path
    as on the host, which is what the host's process list shows), else the package folder (the
    sources, run as python3 -m conveyor_host or python3 path/to/conveyor_host)."""
    package = os.path.dirname(os.path.abspath(__file__))
    archive = os.path.dirname(package)
    return [sys.executable, archive if os.path.isfile(archive) else package]
