"""Where an app's files are on the host (Paths) and its release state (state.json): the live
release and the one before it. A host deployed by an older Conveyor (files current, previous,
color) is read into the same shape."""
import os

from .common import now, read_json, read_text, write_json


class Paths:
    def __init__(self, app_path):
        self.app = app_path
        self.state_dir = os.path.join(app_path, ".conveyor")
        self.state = os.path.join(self.state_dir, "state.json")
        self.history = os.path.join(self.state_dir, "history.jsonl")
        self.lock = os.path.join(self.state_dir, "lock")
        self.releases = os.path.join(self.state_dir, "releases")
        self.runs = os.path.join(self.state_dir, "runs")
        self.last_switch = os.path.join(self.state_dir, "last-switch")
        self.proxy = os.path.join(app_path, "proxy")
        self.proxy_cfg = os.path.join(self.proxy, "conf", "haproxy.cfg")
        self.proxy_sock = os.path.join(self.proxy, "run", "admin.sock")

    def color_dir(self, color):
        return os.path.join(self.app, color)

    def release_file(self, tag):
        return os.path.join(self.releases, tag + ".json")


def load_state(paths):
    """The live release as recorded; a host deployed by an older Conveyor (files current,
    previous, color) is read once into the same shape."""
    state = read_json(paths.state)
    if isinstance(state, dict):
        return state
    legacy = {k: read_text(os.path.join(paths.state_dir, k)) for k in ("current", "previous", "color")}
    state = {}
    if legacy["current"]:
        state["current"] = {"tag": legacy["current"], "color": legacy["color"] or None}
    if legacy["previous"]:
        state["previous"] = {"tag": legacy["previous"]}
    return state


def save_state(paths, state):
    state["updated"] = now()
    write_json(paths.state, state)
