"""Previews of pull requests on this host. A preview's release is an ordinary release (release.py)
from its own folder, <deploy_path>/previews/pr-<n>/<app>; here they are listed, and one is
removed: its containers, its name on the edge and its folder (its certificate is left to expire)."""
import os
import re
import shutil
import time

from .common import out, read_json
from .database import remove_service
from .edge import EdgeFiles, apply, edge_lock, name_of, running
from .engine import run
from .lock import Lock, LockHeld, describe_holder
from .state import load_state, Paths

PREVIEW_DIR = re.compile(r"pr-(\d+)")


def iso(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def list_previews(root, app):
    """Every preview of app under root, oldest change first: its PR, folder, last change, live tag,
    name and public ports (as its last release recorded them)."""
    found = []
    names = sorted(os.listdir(root)) if os.path.isdir(root) else []
    for name in names:
        m = PREVIEW_DIR.fullmatch(name)
        paths = Paths(os.path.join(root, name, app))
        if not m or not os.path.isdir(paths.state_dir):
            continue
        state = load_state(paths)
        found.append({
            "app": app,
            "pr": int(m.group(1)),
            "path": paths.app,
            "updated": state.get("updated") or iso(os.path.getmtime(paths.state_dir)),
            "tag": (state.get("current") or {}).get("tag", ""),
            "domain": (state.get("edge") or {}).get("domain", ""),
            "ports": state.get("public_ports") or {},
        })
    return found


def previews(root, app):
    out("result", status="ok", previews=list_previews(root, app))
    return 0


def remove_projects(cli, prefix):
    """Removes every container of the preview's compose projects, then their networks."""
    removed = 0
    for project in (prefix, f"{prefix}-blue", f"{prefix}-green", f"{prefix}-proxy"):
        ids = run([cli, "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={project}"], check=False).stdout.split()
        if ids:
            run([cli, "rm", "-f", "-v", *ids], timeout=120)
            removed += len(ids)
        run([cli, "network", "rm", f"{project}_default"], check=False)
    return removed


def unroute(edge, cli, compose):
    """The preview's name off the edge (when this preview holds it)."""
    files = EdgeFiles(edge["path"])
    with edge_lock(files):
        held = read_json(files.route(edge["domain"]))
        if not held:
            return False
        if held.get("owner") != edge["owner"]:
            out("warning", what=f"{edge['domain']} is served for {held.get('owner')}, not {edge['owner']}: left as it is")
            return False
        os.remove(files.route(edge["domain"]))
        if running(cli, name_of(edge)):
            apply(files, edge, cli, compose)
        return True


def destroy(app_path, spec):
    """Removes the preview at app_path under its own lock: containers, edge route, folder."""
    paths = Paths(app_path)
    if not os.path.isdir(paths.state_dir):
        out("result", status="noop", message=f"no preview at {app_path}")
        return 0
    cli = spec["engine_command"]
    lock = Lock(paths, spec.get("who", "unknown"), "destroy")
    try:
        lock.acquire(spec.get("lock_timeout", 60))
    except LockHeld as held:
        out("result", status="lock-held", holder=describe_holder(held.holder))
        return 4
    try:
        prefix = load_state(paths).get("project_prefix") or spec["project_prefix"]
        remove_service(app_path, spec["compose_command"].split())  # the preview's own database, volume and all
        containers = remove_projects(cli, prefix)
        unrouted = unroute(spec["edge"], cli, spec["compose_command"].split()) if spec.get("edge") else False
    except Exception:
        lock.release()
        raise
    # The folder goes last, its lock with it; the preview's parent folder too once it is empty.
    shutil.rmtree(app_path, ignore_errors=True)
    parent = os.path.dirname(app_path.rstrip("/"))
    if PREVIEW_DIR.fullmatch(os.path.basename(parent)):
        try:
            os.rmdir(parent)
        except OSError:
            pass
    out("result", status="ok", containers=containers, unrouted=unrouted,
        message=f"removed {containers} containers{', its name on the edge' if unrouted else ''} and {app_path}")
    return 0
