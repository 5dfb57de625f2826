"""Fast rollback (`switch-back`): the proxy goes back to the previous colour while it still runs, one
SSH command without Ansible. Anything not as planned answers "not-warm" (exit 3), and the caller
runs the full rollback instead."""
import os

from .common import Failure, out, read_json, read_text, served_version
from .drain import schedule_drain_stop
from .history import append_history
from .lock import describe_holder, holder_alive, Lock, LockHeld
from .proxy import proxy_routes, switch_proxy
from .state import load_state, Paths, save_state


def switch_back(plan):
    """Rolls back by switching the proxy to the previous colour while it still runs."""
    paths = Paths(plan["app_path"])
    target = plan["target"]
    lock = Lock(paths, plan["deployer"], "rollback", target["tag"], plan["run_id"], plan.get("hold_id", ""))
    try:
        lock.acquire(min(plan["lock_timeout"], 10))
    except LockHeld as held:
        out("result", status="lock-held", holder=describe_holder(held.holder), alive=holder_alive(held.holder))
        return 4
    try:
        state = load_state(paths)
        current = state.get("current") or {}
        if current.get("tag") == target["tag"] and proxy_routes(paths, plan["components"]) == current.get("color"):
            out("result", status="noop", tag=target["tag"], live=target["tag"], color=current.get("color"))
            return 0
        if current.get("tag") != plan.get("expect_live"):
            out("result", status="not-warm", reason=f"the live release is {current.get('tag')}, not {plan.get('expect_live')} as planned")
            return 3
        live_color = current.get("color")
        if not live_color:
            out("result", status="not-warm", reason="the app does not run blue-green on this host")
            return 3
        old_color = "green" if live_color == "blue" else "blue"
        folder = paths.color_dir(old_color)
        version = served_version(read_text(os.path.join(folder, ".port"))) or {}
        if read_text(os.path.join(folder, ".tag")) != target["tag"] or version.get("image_tag") != target["tag"]:
            out("result", status="not-warm", reason=f"colour {old_color} is not running {target['tag']}")
            return 3
        if target.get("git_sha") and version.get("git_sha") != target["git_sha"]:
            out("result", status="not-warm", reason=f"colour {old_color} reports commit {version.get('git_sha')}, not {target['git_sha']}")
            return 3
        try:
            switch_id = switch_proxy(paths, plan, old_color)
            public = served_version(plan["public_ports"]["backend"]) or {}
            if public.get("image_tag") != target["tag"]:
                raise Failure(f"through the public port the proxy serves {public.get('image_tag')!r}", "switch")
        except (Failure, OSError) as f:
            try:
                switch_proxy(paths, plan, live_color)
            except (Failure, OSError):
                pass
            out("result", status="not-warm", reason=f"{f}; switched back")
            return 3
        info = read_json(paths.release_file(target["tag"]), {"tag": target["tag"]})
        new_state = {**state, "current": {**info, "color": old_color}, "previous": current}
        save_state(paths, new_state)
        append_history(paths, {"action": "rollback", "result": "ok", "tag": target["tag"], "from": current.get("tag", ""), "color": old_color,
                               "who": plan["deployer"], "run_id": plan["run_id"], "fast": True})
        schedule_drain_stop(paths, plan, live_color, switch_id)
        out("result", status="ok", tag=target["tag"], live=target["tag"], color=old_color, previous_tag=current.get("tag", ""), fast=True)
        return 0
    finally:
        lock.release()
