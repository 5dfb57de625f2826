"""Conveyor's release protocol on a host: the one implementation of the lock, the release state,
the history, the proxy switch and the release itself, used by every deploy, rollback, drain stop,
status and history of an app (and of the monitoring stack). Installed by the deploy into
<app>/.conveyor/; standard library only.

The executor decides the whole release (tag, digests, ports, paths) and writes it to a plan
file; this program carries the plan out and never decides a tag itself.

  conveyor-host.pyz release PLAN            deploy or roll back as planned (registry login on stdin)
  conveyor-host.pyz release-bundle SHA256   the same, the run's files and login on stdin (one SSH command);
                                            exit 75 (nothing done) unless this helper's sha256 is SHA256
  conveyor-host.pyz switch-back PLAN        fast rollback: switch to the warm previous colour
  conveyor-host.pyz status APP_PATH         one JSON object: state, proxy routes, lock, history
  conveyor-host.pyz history APP_PATH [N]    the last N history entries, one JSON object per line
  conveyor-host.pyz follow APP_PATH RUN_ID  a run's progress lines as they come, until its result
  conveyor-host.pyz hold APP_PATH RUN_ID WHO WAIT   the environment's lock while stdin stays open
  conveyor-host.pyz abort|promote APP_PATH [WHO]  a running canary goes back to stable, or to every request
  conveyor-host.pyz break-lock APP_PATH WHO breaks a lock whose holder is dead (never a live one)
  conveyor-host.pyz browser-gate APP_PATH RUN_ID pass|fail [WHY]   the browser tests' verdict a release waits for (gate.e2e)
  conveyor-host.pyz db-backup APP_PATH      a verified backup of the app's database now (settings on stdin)
  conveyor-host.pyz db-restore APP_PATH NAME   the app's database put back from a kept backup (settings on stdin)
  conveyor-host.pyz drain-stop APP_PATH COLOR SWITCH_ID   (started by a switch, in the background)
  conveyor-host.pyz maintenance - on|off    the edge's maintenance page for the app's name (its edge settings on stdin)
  conveyor-host.pyz edge-certificate -      the certificate and key the edge obtained for a name (its edge settings on stdin)
  conveyor-host.pyz edge-route -            the name's route and certificate put on the edge, no release (settings on stdin)
  conveyor-host.pyz previews ROOT APP       one JSON result listing the previews of APP under ROOT
  conveyor-host.pyz destroy-preview APP_PATH   remove a preview: containers, edge route, folder (settings on stdin)

Exit codes: 0 done, 1 failed (the live release still serves unless the output says otherwise),
3 fast rollback not possible (the caller runs the full rollback), 4 lock held by a live holder,
75 release-bundle from another version of the helper (install it and ask again).
"""
import json
import os
import sys

from .common import now, out, write_atomic
from .dbops import db_command
from .drain import drain_stop
from .common import Failure
from .edge import maintenance, name_of, obtained_certificate, put_route
from .history import history
from .preview import destroy, previews
from .lock import break_lock_command, hold
from .rollback import switch_back
from .release import write_browser_verdict
from .runs import bundle_release, detached_release, follow, load_plan, release_worker
from .state import Paths
from .status import status


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 64
    command, args = argv[1], argv[2:]
    if command == "release":
        auth = json.loads(sys.stdin.read() or "{}") if not sys.stdin.isatty() else {}
        return detached_release(args[0], auth)
    if command == "release-bundle":
        return bundle_release(args[0])
    if command == "release-worker":
        return release_worker(args[0])
    if command == "switch-back":
        return switch_back(load_plan(args[0]))
    if command in ("abort", "promote"):
        # The file names when and who (the canary's abort records it in the history).
        who = args[1] if len(args) > 1 else ""
        write_atomic(os.path.join(Paths(args[0]).state_dir, command), f"{now()} {who}".rstrip() + "\n")
        goes = "back to stable" if command == "abort" else "to every request, skipping its remaining steps"
        out("result", status="ok", message=f"a running canary goes {goes} at its next analysis")
        return 0
    if command == "hold":
        return hold(*args[:4])
    if command == "drain-stop":
        return drain_stop(*args[:4])
    if command == "status":
        return status(args[0])
    if command == "follow":
        return follow(args[0], args[1])
    if command == "history":
        return history(args[0], int(args[1]) if len(args) > 1 else None)
    if command == "maintenance":
        spec = json.loads(sys.stdin.read() or "{}")
        e = spec["edge"]
        return maintenance(e["path"], e["domain"], e["owner"], args[1] == "on", spec["engine_command"],
                           spec["compose_command"].split(), e["image"], e["http_port"], e["https_port"], name_of(e))
    if command == "edge-certificate":
        spec = json.loads(sys.stdin.read() or "{}")
        found = obtained_certificate(spec["edge"], spec["engine_command"])
        out("result", **({"status": "ok", **found} if found else {"status": "missing"}))
        return 0
    if command == "edge-route":
        spec = json.loads(sys.stdin.read() or "{}")
        try:
            put_route(spec["edge"], spec.get("secrets") or {}, spec["engine_command"], spec["compose_command"].split())
        except Failure as f:
            out("result", status="failed", error=str(f))
            return 1
        out("result", status="ok", domain=spec["edge"]["domain"])
        return 0
    if command == "previews":
        return previews(args[0], args[1])
    if command == "destroy-preview":
        return destroy(args[0], json.loads(sys.stdin.read() or "{}"))
    if command == "browser-gate":
        return write_browser_verdict(args[0], args[1], " ".join(args[2:]))
    if command in ("db-backup", "db-restore"):
        spec = json.loads(sys.stdin.read() or "{}")
        return db_command(args[0], command, spec, args[1] if len(args) > 1 else "")
    if command == "break-lock":
        return break_lock_command(args[0], args[1] if len(args) > 1 else "unknown")
    print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 64
