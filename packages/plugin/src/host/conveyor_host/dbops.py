"""`db-backup` and `db-restore`: the app's database backed up now, or put back from a kept backup,
under the app's deploy lock (no release migrates meanwhile). The database is the live release's:
its kind and image from the state, a managed database's URL from the live release's secrets."""
import os
import time

from .common import Failure, http_get, out
from .database import Database, URL
from .engine import Engine
from .history import append_history
from .lock import describe_holder, Lock, LockHeld
from .state import load_state, Paths


def live_database(paths, state, spec):
    """The Database of the live release (None: no release with a database is live here)."""
    db = state.get("database")
    current = state.get("current") or {}
    if not db or not current.get("tag"):
        return None
    folder = paths.color_dir(current["color"]) if current.get("color") else paths.app
    values = {}
    url_file = os.path.join(folder, "secrets", URL)
    if db["kind"] == "managed" and os.path.exists(url_file):
        with open(url_file) as f:
            values[URL] = f.read()
    engine = Engine(spec)
    return Database({**db, **{k: spec[k] for k in ("backup_command", "keep") if k in spec}}, engine, paths.app,
                    state.get("project_prefix") or "", values)


def db_command(app_path, action, spec, name=""):
    """spec: engine_command, compose_command, who, lock_timeout, and the profile's keep and
    backup_command. Exit 0 done, 1 failed, 4 lock held."""
    paths = Paths(app_path)
    lock = Lock(paths, spec.get("who", "unknown"), action)
    try:
        lock.acquire(spec.get("lock_timeout", 120))
    except LockHeld as held:
        out("result", status="lock-held", holder=describe_holder(held.holder))
        return 4
    try:
        state = load_state(paths)
        database = live_database(paths, state, spec)
        if database is None:
            raise Failure(f"no live release with a database at {app_path}: deploy the app first", action)
        if action == "db-backup":
            info = database.backup("manual", (state.get("current") or {}).get("tag", ""))
            append_history(paths, {"action": "db-backup", "result": "ok", "backup": info["name"], "size": info["size"],
                                   "tables": info["verified"]["tables"], "who": spec.get("who", "")})
            out("result", status="ok", backup=info["name"], size=info["size"], tables=info["verified"]["tables"],
                copied=info.get("copied"))
            return 0
        safety = database.backup("before-restore", (state.get("current") or {}).get("tag", ""), protect=name)
        restored = database.restore(name)
        healthy = wait_healthy(state)
        append_history(paths, {"action": "db-restore", "result": "ok", "backup": name, "safety_backup": safety["name"],
                               "healthy": healthy, "who": spec.get("who", "")})
        out("result", status="ok", backup=name, tables=restored.get("verified", {}).get("tables", {}),
            safety_backup=safety["name"], healthy=healthy)
        return 0
    except Failure as f:
        append_history(paths, {"action": action, "result": "failed", "backup": name, "error": str(f)[:500], "who": spec.get("who", "")})
        out("result", status="failed", error=str(f), phase=f.phase or action)
        return 1
    finally:
        lock.release()


def wait_healthy(state, timeout=30):
    """Whether the live release answers its health check through the public port after a restore."""
    port = (state.get("public_ports") or {}).get("backend")
    if not port:
        return None
    deadline = time.monotonic() + timeout
    while True:
        if http_get(port, "/health")[0] == 200:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
