"""The lock: a folder made by one atomic rename, holding who took it and which process holds it.
The holder's pid, the pid's start time and the boot id tell a dead holder (broken, and recorded)
from a live one (waited for), even after a reboot or with its pid reused. A dead holder's lock is
broken by moving it aside (lock.breaking-*) and checking it was the one judged dead: a live lock
moved aside by a waiter that came too late goes back, and holds meanwhile. Also the commands that
work on the lock alone: `hold` (the environment's lock for a deploy to several hosts) and
`break-lock`."""
import errno
import os
import shutil
import signal
import sys
import tempfile
import time

from .common import now, out, read_json, read_text, write_json
from .history import append_history
from .state import Paths


LOCK_POLL = 0.2
PUT_BACK_POLL = 0.01
PUT_BACK_TIMEOUT = 30.0
ASIDE = ".breaking-"  # lock<ASIDE><pid>-<ns>: a lock moved aside to be broken
IDENTITY = ("run_id", "pid", "pid_start", "since", "boot", "who", "legacy")


class LockHeld(Exception):
    def __init__(self, holder):
        super().__init__("lock held")
        self.holder = holder


def boot_id():
    return read_text("/proc/sys/kernel/random/boot_id", "unknown")


def process_start(pid):
    """The start time of a process (field 22 of /proc/PID/stat): tells a reused pid apart."""
    stat = read_text(f"/proc/{pid}/stat")
    if not stat:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def holder_alive(holder):
    if not isinstance(holder, dict) or "pid" not in holder:
        return None  # unknown: not ours to judge
    if holder.get("boot") != boot_id():
        return False  # the machine restarted since
    pid = int(holder["pid"])
    start = process_start(pid)
    return start is not None and start == holder.get("pid_start")


def read_holder(paths):
    return holder_in(paths.lock)


def holder_in(folder):
    """The holder written in a lock folder (the lock, or one moved aside); None: no such folder."""
    holder = read_json(os.path.join(folder, "holder.json"))
    if holder is None and os.path.isdir(folder):
        text = read_text(os.path.join(folder, "holder"))  # older Conveyor: text only
        return {"who": text or "unknown", "legacy": True}
    return holder


def same_holder(a, b):
    return isinstance(a, dict) and isinstance(b, dict) and all(a.get(k) == b.get(k) for k in IDENTITY)


def live_aside(paths):
    """The live holder of a lock moved aside to be broken (a waiter took it for a dead one, then
    found another in its place): it still holds, and goes back as soon as the lock is free."""
    prefix = os.path.basename(paths.lock) + ASIDE
    try:
        names = sorted(n for n in os.listdir(paths.state_dir) if n.startswith(prefix))
    except FileNotFoundError:
        return None
    for name in names:
        holder = holder_in(os.path.join(paths.state_dir, name))
        if holder_alive(holder):
            return holder
    return None


def describe_holder(holder):
    if not holder:
        return "nobody"
    what = " ".join(x for x in (holder.get("action", ""), holder.get("tag", "")) if x)
    parts = [holder.get("who", "unknown")]
    if what:
        parts.append(f"({what})")
    if holder.get("since"):
        parts.append(f"since {holder['since']}")
    if holder.get("pid"):
        parts.append(f"pid {holder['pid']}")
    if holder.get("run_id"):
        parts.append(f"run {holder['run_id']}")
    return " ".join(parts)


class Lock:
    def __init__(self, paths, who, action, tag="", run_id="", hold_id=""):
        self.paths = paths
        # The environment's lock this run goes on under (several hosts: taken by `hold`).
        self.hold_id = hold_id
        self.holder = {
            "who": who,
            "action": action,
            "tag": tag,
            "run_id": run_id or f"{os.getpid()}-{time.time_ns()}",
            "since": now(),
            "pid": os.getpid(),
            "pid_start": process_start(os.getpid()),
            "boot": boot_id(),
        }
        self.held = False

    def _try(self):
        tmp = tempfile.mkdtemp(prefix=".lock-", dir=self.paths.state_dir)
        write_json(os.path.join(tmp, "holder.json"), self.holder)
        try:
            os.rename(tmp, self.paths.lock)  # fails when the lock folder exists (it is never empty)
            self.held = True
            return True
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR):
                return False
            raise

    def acquire(self, wait_seconds):
        deadline = time.monotonic() + max(wait_seconds, 0)
        while True:
            if self._try():
                holder = live_aside(self.paths)
                if holder is None:
                    return
                # Taken while a live holder's lock was aside (break_lock puts it back): given up.
                self.release()
            else:
                holder = read_holder(self.paths)
                alive = holder_alive(holder)
                if alive and self.hold_id and isinstance(holder, dict) and holder.get("run_id") == self.hold_id and holder.get("action") == "hold":
                    return  # the environment's lock, held for this very run (several hosts): not ours to release
                if alive is False:
                    # False: the lock changed hands since it was judged; the new holder is judged anew.
                    break_lock(self.paths, holder, f"{self.holder['who']} ({self.holder['action']})", "holder is dead")
                    continue
            if time.monotonic() >= deadline:
                raise LockHeld(holder)
            time.sleep(LOCK_POLL)

    def release(self):
        if not self.held:
            return
        holder = read_json(os.path.join(self.paths.lock, "holder.json")) or {}
        if holder.get("run_id") == self.holder["run_id"]:
            gone = f"{self.paths.lock}.released-{os.getpid()}"
            os.rename(self.paths.lock, gone)
            shutil.rmtree(gone, ignore_errors=True)
        self.held = False


def break_lock(paths, holder, by, reason):
    """Moves the lock of the holder judged dead aside (atomic) and records it in the history. Only
    that lock: between the judgement and the move, another waiter may have broken it and taken the
    lock itself. What was moved is checked; another holder's lock goes back (False)."""
    aside = f"{paths.lock}{ASIDE}{os.getpid()}-{time.time_ns()}"
    try:
        os.rename(paths.lock, aside)
    except FileNotFoundError:
        return False
    moved = holder_in(aside)
    if not same_holder(moved, holder):
        put_back(paths, aside, moved)
        return False
    shutil.rmtree(aside, ignore_errors=True)
    append_history(paths, {"action": "lock-break", "result": "ok", "who": by, "holder": holder, "reason": reason})
    out("lock-broken", holder=describe_holder(holder), reason=reason)
    return True


def put_back(paths, aside, holder):
    """A lock moved aside by mistake goes back. The lock is free but for a taker that came in
    between, which gives way (Lock.acquire: a live lock aside still holds); a holder that ended
    meanwhile has nothing to go back to. An older helper does not give way: after PUT_BACK_TIMEOUT
    the lock stays aside, where it still holds for this helper."""
    deadline = time.monotonic() + PUT_BACK_TIMEOUT
    while True:
        try:
            os.rename(aside, paths.lock)
            return True
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR):
                raise
        if holder_alive(holder) is False:
            shutil.rmtree(aside, ignore_errors=True)
            return False
        if time.monotonic() >= deadline:
            out("warning", what=f"the lock of {describe_holder(holder)} was moved aside to {aside} and could not go back: "
                                f"another process holds {paths.lock}")
            return False
        time.sleep(PUT_BACK_POLL)


def hold(app_path, run_id, who, wait_seconds):
    """The environment's lock on this host for a deploy to several hosts: taken before any host
    changes, held by this process while the caller's connection stays open (stdin), released
    when it closes. Releases of the same run go on under it; a dead holder is broken as usual."""
    paths = Paths(app_path)
    os.makedirs(paths.state_dir, mode=0o750, exist_ok=True)
    lock = Lock(paths, who, "hold", "", run_id)
    try:
        lock.acquire(float(wait_seconds))
    except LockHeld as held:
        out("result", status="lock-held", holder=describe_holder(held.holder), alive=holder_alive(held.holder), pid=(held.holder or {}).get("pid"))
        return 4
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    out("held", run_id=run_id)
    try:
        while sys.stdin.readline():
            pass
    except (OSError, ValueError):
        pass
    try:
        # A release of this run still going on here (the caller went away mid-way: its own
        # release, a canary pausing an hour a step, the revert <run_id>-back) keeps the lock until
        # its process ends, however long that takes: a second deploy must never meet it half-way.
        while releases_running(paths, run_id):
            time.sleep(LOCK_POLL)
    finally:
        lock.release()
    return 0


def worker_file(paths, run_id):
    """runs/<run_id>.worker: which process carries out a run (its pid, start time and boot)."""
    return os.path.join(paths.runs, run_id + ".worker")


def record_worker(paths, run_id, pid):
    write_json(worker_file(paths, run_id), {"pid": pid, "pid_start": process_start(pid), "boot": boot_id()})


def releases_running(paths, run_id, grace=10.0):
    """Whether a release of this run (<run_id>, <run_id>-back, ...) still runs on this host: its
    worker process is alive, or its log has no result yet and no worker was recorded for it in
    the first seconds (the worker is recorded right after it starts)."""
    try:
        names = os.listdir(paths.runs)
    except FileNotFoundError:
        return False
    for name in names:
        stem, ext = os.path.splitext(name)
        if not (stem == run_id or stem.startswith(run_id + "-")):
            continue
        if ext == ".worker" and holder_alive(read_json(os.path.join(paths.runs, name))):
            return True
        if ext == ".log" and not os.path.exists(worker_file(paths, stem)):
            path = os.path.join(paths.runs, name)
            try:
                young = time.time() - os.path.getmtime(path) < grace
            except OSError:
                continue
            if young and '"event": "result"' not in read_text(path):
                return True
    return False


def break_lock_command(app_path, who):
    paths = Paths(app_path)
    while True:  # again when the lock changed hands between the judgement and the break
        holder = read_holder(paths)
        if holder is None:
            out("result", status="ok", broken=False, message="the lock is free")
            return 0
        alive = holder_alive(holder)
        if alive:
            out("result", status="lock-held", holder=describe_holder(holder), alive=True,
                message=f"the holder is alive (pid {holder.get('pid')}): wait for it, or stop that process first")
            return 4
        if break_lock(paths, holder, who, "broken on request" if alive is None else "holder is dead"):
            out("result", status="ok", broken=True, holder=describe_holder(holder))
            return 0
