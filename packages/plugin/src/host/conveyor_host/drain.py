"""After a switch, the colour switched away from finishes the requests it has in flight: a detached
process stops it after the drain time, unless a later switch happened or it is live again."""
import os
import shutil
import subprocess
import time

from .common import read_env_file, read_json, read_text, self_command
from .engine import Engine
from .lock import Lock, LockHeld
from .state import load_state, Paths


def schedule_drain_stop(paths, plan, color, switch_id):
    log = open(os.path.join(paths.state_dir, f"stop-{color}.log"), "w")
    subprocess.Popen(
        [*self_command(), "drain-stop", paths.app, color, switch_id, str(plan["drain_seconds"])],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
    )


def drain_stop(app_path, color, switch_id, drain):
    """After its drain time, stops a colour switched away from, unless a later switch happened
    or it is live again. Holds the lock while it acts."""
    paths = Paths(app_path)
    time.sleep(float(drain))
    lock = Lock(paths, f"drain stop of {color}", "drain-stop")
    try:
        lock.acquire(600)
    except LockHeld:
        return 1
    try:
        state = load_state(paths)
        if read_text(paths.last_switch) != switch_id or (state.get("current") or {}).get("color") == color:
            return 0
        env = read_env_file(paths.color_dir(color))
        if env is not None:
            engine = Engine(read_json(os.path.join(paths.state_dir, "engine.json"), {"engine_command": "docker", "compose_command": "docker compose"}))
            engine.compose_run(paths.color_dir(color), ["stop"], env, check=False)
            # A stopped colour comes back only through a full release, which writes its secrets
            # again: the old values do not stay on the host past the drain.
            shutil.rmtree(os.path.join(paths.color_dir(color), "secrets"), ignore_errors=True)
        return 0
    finally:
        lock.release()
