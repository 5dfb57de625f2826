"""`status`: one JSON object with the state, where the proxy routes, the lock, the last history
entries and the releases known; exit 2 when the proxy and the state disagree."""
import json
import os

from .common import read_json
from .database import backups_status
from .edge import certificate_info, EdgeFiles
from .history import read_history
from .lock import describe_holder, holder_alive, read_holder
from .proxy import proxy_routes
from .state import load_state, Paths


def status(app_path):
    paths = Paths(app_path)
    state = load_state(paths)
    current = state.get("current") or {}
    components = read_json(os.path.join(paths.state_dir, "engine.json"), {}).get("components", ["backend"])
    routed = proxy_routes(paths, components) if os.path.exists(paths.proxy_sock) else None
    holder = read_holder(paths)
    proxied = os.path.exists(os.path.join(paths.proxy, "docker-compose.yml"))
    agree = True
    problems = []
    if proxied and state.get("strategy", "blue-green") == "blue-green":
        if routed is None:
            agree, problems = False, problems + ["the proxy does not answer or routes to no single colour"]
        elif routed != current.get("color"):
            agree, problems = False, problems + [f"the proxy routes to {routed}, the state says {current.get('color')}"]
    result = {
        "app_path": app_path,
        "env": state.get("env"),
        "strategy": state.get("strategy"),
        "current": current or None,
        "previous": state.get("previous"),
        "proxy_routes": routed,
        "lock": None if holder is None else {**holder, "alive": holder_alive(holder), "text": describe_holder(holder)},
        "agree": agree,
        "problems": problems,
        "history": read_history(paths, 5),
        "releases": known_releases(paths),
        "edge": edge_status(state.get("edge")),
        "database": database_status(app_path, state.get("database")),
    }
    print(json.dumps(result))
    return 0 if agree else 2


def database_status(app_path, database):
    """The app's database: its kind, and the backups kept with size, age and the day warning."""
    if not database:
        return None
    return {"kind": database.get("kind"), **(backups_status(app_path) or {"backups": [], "warning": "no verified backup is kept"})}


def edge_status(served):
    """The app's name on the edge, its maintenance switch and the certificate the edge presents."""
    if not served:
        return None
    route = read_json(EdgeFiles(served["path"]).route(served["domain"])) or {}
    return {**served, "maintenance": bool(route.get("maintenance")),
            "certificate": certificate_info(served["https_port"], served["domain"])}


def known_releases(paths):
    releases = {}
    try:
        names = os.listdir(paths.releases)
    except OSError:
        return releases
    for name in names:
        info = read_json(os.path.join(paths.releases, name))
        if name.endswith(".json") and isinstance(info, dict):
            releases[name[:-5]] = info
    return releases
