#!/usr/bin/env python3
"""Conveyor's release protocol on a host: the one implementation of the lock, the release state,
the history, the proxy switch and the release itself, used by every deploy, rollback, drain stop,
status and history of an app (and of the monitoring stack). Installed by the deploy into
<app>/.conveyor/; standard library only.

The executor decides the whole release (tag, digests, ports, paths) and writes it to a plan
file; this program carries the plan out and never decides a tag itself.

  conveyor-host.py release PLAN            deploy or roll back as planned (registry login on stdin)
  conveyor-host.py switch-back PLAN        fast rollback: switch to the warm previous colour
  conveyor-host.py status APP_PATH         one JSON object: state, proxy routes, lock, history
  conveyor-host.py history APP_PATH [N]    the last N history entries, one JSON object per line
  conveyor-host.py follow APP_PATH RUN_ID  a run's progress lines as they come, until its result
  conveyor-host.py hold APP_PATH RUN_ID WHO WAIT   the environment's lock while stdin stays open
  conveyor-host.py abort|promote APP_PATH  a running canary goes back to stable, or to every request
  conveyor-host.py break-lock APP_PATH WHO breaks a lock whose holder is dead (never a live one)
  conveyor-host.py drain-stop APP_PATH COLOR SWITCH_ID   (started by a switch, in the background)

Exit codes: 0 done, 1 failed (the live release still serves unless the output says otherwise),
3 fast rollback not possible (the caller runs the full rollback), 4 lock held by a live holder.
"""
import base64
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

COLORS = ("blue", "green")
LOCK_POLL = 0.2


class Failure(Exception):
    """A release step failed; `phase` tells how far the release got."""

    def __init__(self, message, phase="", logs=""):
        super().__init__(message)
        self.phase = phase
        self.logs = logs


class LockHeld(Exception):
    def __init__(self, holder):
        super().__init__("lock held")
        self.holder = holder


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def out(event, **fields):
    """One progress or result line for the caller (JSON: every field escaped)."""
    line = json.dumps({"event": event, **fields})
    try:
        print(line, flush=True)
    except (BrokenPipeError, OSError):
        pass  # the caller went away (connection cut): the release goes on


# ---------------------------------------------------------------------------------------------
# Files: atomic writes, state, history


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


def append_history(paths, entry):
    """One JSON object per line: failures, rollbacks, repairs and lock breaks included."""
    entry = {"at": now(), **entry}
    line = json.dumps(entry, sort_keys=True) + "\n"
    fd = os.open(paths.history, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_history(paths, limit=None):
    entries = []
    try:
        with open(paths.history) as f:
            for line in f:
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    continue
    except OSError:
        pass
    return entries[-limit:] if limit else entries


# ---------------------------------------------------------------------------------------------
# The lock: a folder made by one atomic rename, holding who took it and which process holds it.


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
    holder = read_json(os.path.join(paths.lock, "holder.json"))
    if holder is None and os.path.isdir(paths.lock):
        text = read_text(os.path.join(paths.lock, "holder"))  # older Conveyor: text only
        return {"who": text or "unknown", "legacy": True}
    return holder


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
                return
            holder = read_holder(self.paths)
            alive = holder_alive(holder)
            if alive and self.hold_id and isinstance(holder, dict) and holder.get("run_id") == self.hold_id and holder.get("action") == "hold":
                return  # the environment's lock, held for this very run (several hosts): not ours to release
            if alive is False:
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
    """Moves a dead holder's lock aside (atomic) and records it in the history."""
    aside = f"{paths.lock}.broken-{time.time_ns()}"
    try:
        os.rename(paths.lock, aside)
    except FileNotFoundError:
        return False
    shutil.rmtree(aside, ignore_errors=True)
    append_history(paths, {"action": "lock-break", "result": "ok", "who": by, "holder": holder, "reason": reason})
    out("lock-broken", holder=describe_holder(holder), reason=reason)
    return True


# ---------------------------------------------------------------------------------------------
# Processes, HTTP


def run(argv, cwd=None, env=None, check=True, timeout=600):
    merged = dict(os.environ)
    merged.update(env or {})
    p = subprocess.run(argv, cwd=cwd, env=merged, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise Failure(f"{' '.join(argv[:3])} failed (exit {p.returncode}): {(p.stderr or p.stdout).strip()[-600:]}")
    return p


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


# ---------------------------------------------------------------------------------------------
# Engine and compose


class Engine:
    def __init__(self, plan):
        self.cli = plan["engine_command"]
        self.compose = plan["compose_command"].split()

    def compose_run(self, folder, args, env, check=True, timeout=600):
        return run(self.compose + args, cwd=folder, env=env, check=check, timeout=timeout)

    def running_images(self, folder, env):
        """Image ids of the running containers of the compose project in folder."""
        ids = self.compose_run(folder, ["ps", "-q"], env, check=False).stdout.split()
        images = {}
        for cid in ids:
            p = run([self.cli, "inspect", "--format", "{{.State.Running}} {{.Image}} {{index .Config.Labels \"com.docker.compose.service\"}}", cid], check=False)
            parts = p.stdout.split()
            if p.returncode == 0 and len(parts) == 3 and parts[0] == "true":
                images[parts[2]] = parts[1]
        return images

    def image_id(self, ref):
        p = run([self.cli, "image", "inspect", "--format", "{{.Id}}", ref], check=False)
        return p.stdout.strip() if p.returncode == 0 else ""

    def repo_digests(self, ref):
        p = run([self.cli, "image", "inspect", "--format", "{{json .RepoDigests}}", ref], check=False)
        try:
            return json.loads(p.stdout) or [] if p.returncode == 0 else []
        except ValueError:
            return []


class RegistryLogin:
    """Pull credentials for this run only: a private DOCKER_CONFIG removed afterwards (nothing
    is kept in ~/.docker on the host)."""

    def __init__(self, registry, auth):
        self.dir = None
        if auth and auth.get("user") and auth.get("password"):
            self.dir = tempfile.mkdtemp(prefix="conveyor-pull-")
            os.chmod(self.dir, 0o700)
            token = base64.b64encode(f"{auth['user']}:{auth['password']}".encode()).decode()
            write_json(os.path.join(self.dir, "config.json"), {"auths": {registry: {"auth": token}}}, 0o600)

    def env(self):
        return {"DOCKER_CONFIG": self.dir} if self.dir else {}

    def close(self):
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def pull_release(engine, plan, release, login):
    """Pulls every image of the release by digest and tags it locally with the release tag, then
    checks the result itself (an engine or compose can report a pull that did not happen).
    Returns {component: image id}."""
    ids = {}
    for component, image in sorted(release["images"].items()):
        by_digest = f"{image['repository']}@{image['digest']}"
        tagged = f"{image['repository']}:{release['tag']}"
        have = engine.image_id(by_digest)
        if not have:
            p = run([engine.cli, "pull", by_digest], env=login.env(), check=False, timeout=900)
            have = engine.image_id(by_digest)
            if not have:
                why = (p.stderr or p.stdout).strip().splitlines()
                raise Failure(
                    f"image {by_digest} is not on the host after the pull"
                    + (f": {why[-1][:300]}" if why else " (the engine reported no error)"),
                    "pull",
                )
        if not any(d.endswith("@" + image["digest"]) for d in engine.repo_digests(have)):
            raise Failure(f"image {by_digest}: the engine holds no image with that digest", "pull")
        run([engine.cli, "tag", have, tagged])
        if engine.image_id(tagged) != have:
            raise Failure(f"image {tagged} does not point at {image['digest']} after tagging it", "pull")
        ids[component] = have
        out("pulled", component=component, image=by_digest)
    return ids


def ensure_image(engine, ref, login):
    if engine.image_id(ref):
        return
    run([engine.cli, "pull", ref], env=login.env(), check=False, timeout=900)
    if not engine.image_id(ref):
        raise Failure(f"image {ref} is not on the host and could not be pulled", "pull")


# ---------------------------------------------------------------------------------------------
# The proxy (blue-green): HAProxy on the host network; its configuration on disk always routes
# where the runtime does, so a restarted proxy serves the same colour.


def proxy_config(plan, live_color):
    uid, gid = os.getuid(), os.getgid()
    lines = [
        f"# Written by Conveyor for {plan['app']} ({plan['env']}). HAProxy owns the public ports and routes",
        "# to the live colour; switches go through the runtime API (admin.sock) and are written here too.",
        "global",
        "    log stdout format raw local0 info",
        f"    stats socket /run/haproxy/admin.sock mode 660 uid {uid} gid {gid} level admin",
        "",
        "defaults",
        "    mode http",
        "    log global",
        "    timeout connect 3s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-keep-alive 60s",
        "    # A request that meets a colour while it stops is sent again to the live one.",
        "    retries 3",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response",
        "",
    ]
    for component in plan["components"]:
        lines += [f"frontend {component}", f"    bind :{plan['public_ports'][component]}", f"    default_backend {component}", "", f"backend {component}"]
        for color in COLORS:
            state = "" if color == live_color else " disabled"
            lines.append(f"    server {color} 127.0.0.1:{plan['color_ports'][color][component]}{state}")
        lines.append("")
    return "\n".join(lines)


def proxy_compose(plan):
    return "\n".join(
        [
            f"# Written by Conveyor: the proxy in front of the colours of {plan['app']} ({plan['env']}).",
            "services:",
            "  proxy:",
            f"    image: {json.dumps(plan['proxy_image'])}",
            "    restart: unless-stopped",
            "    network_mode: host",
            '    user: "0:0"',
            '    command: ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]',
            "    volumes:",
            "      - ./conf:/usr/local/etc/haproxy:ro",
            "      - ./run:/run/haproxy",
            "",
        ]
    )


def admin(paths, command):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(paths.proxy_sock)
        s.sendall((command + "\n").encode())
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode().strip()


def proxy_routes(paths, components):
    """The colour the proxy routes every component to (None: proxy down or colours mixed)."""
    try:
        answer = admin(paths, "show servers state")
    except OSError:
        return None
    ready = {}
    for line in answer.splitlines():
        f = line.split()
        # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...; an operational
        # state of 2 (running) is what takes traffic (a server enabled at run time keeps the
        # "disabled in the configuration" admin bit on display).
        if len(f) > 6 and f[1] in components and f[3] in COLORS and f[5] == "2":
            ready.setdefault(f[1], set()).add(f[3])
    colors = {c for comp in components for c in ready.get(comp, set())}
    if len(colors) != 1 or any(len(ready.get(comp, ())) != 1 for comp in components):
        return None
    return colors.pop()


def proxy_env(plan):
    return {"COMPOSE_PROJECT_NAME": plan["project_prefix"] + "-proxy"}


def write_proxy_files(paths, plan, live_color):
    for sub in ("conf", "run"):
        os.makedirs(os.path.join(paths.proxy, sub), mode=0o750, exist_ok=True)
    write_atomic(paths.proxy_cfg, proxy_config(plan, live_color) + "\n")
    write_atomic(os.path.join(paths.proxy, "docker-compose.yml"), proxy_compose(plan))
    write_atomic(os.path.join(paths.proxy, ".env"), f"COMPOSE_PROJECT_NAME={plan['project_prefix']}-proxy\n")


def start_proxy(engine, paths, plan, timeout=30):
    engine.compose_run(paths.proxy, ["up", "-d"], proxy_env(plan))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            admin(paths, "show info")
            return
        except OSError:
            time.sleep(0.2)
    raise Failure(f"the proxy's runtime API ({paths.proxy_sock}) did not answer within {timeout}s", "proxy")


def switch_proxy(paths, plan, to_color):
    """Routes every component to to_color (runtime API: no reload, open connections stay),
    writes the configuration to match, and checks where the proxy routes now."""
    from_color = "green" if to_color == "blue" else "blue"
    # One line of commands, run back to back by HAProxy: no request lands between the new colour
    # becoming ready and the old one leaving (over separate connections, some did, and went back).
    commands = []
    for component in plan["components"]:
        commands += [f"set server {component}/{to_color} state ready", f"set server {component}/{from_color} state maint"]
    answer = admin(paths, "; ".join(commands))
    if answer:
        raise Failure(f"proxy refused '{'; '.join(commands)}': {answer}", "switch")
    write_atomic(paths.proxy_cfg, proxy_config(plan, to_color) + "\n")
    routed = proxy_routes(paths, plan["components"])
    if routed != to_color:
        raise Failure(f"the proxy routes to {routed or 'no single colour'} after the switch to {to_color}", "switch")
    switch_id = f"{os.getpid()}-{time.time_ns()}"
    write_atomic(paths.last_switch, switch_id + "\n")
    return switch_id


def set_weights(paths, plan, new_color, new_weight, old_color, old_weight):
    """Both colours take requests in proportion to their weights (0: none)."""
    for component in plan["components"]:
        for color, weight in ((old_color, old_weight), (new_color, new_weight)):
            for command in (f"set weight {component}/{color} {weight}", f"set server {component}/{color} state ready"):
                answer = admin(paths, command)
                if answer:
                    raise Failure(f"proxy refused '{command}': {answer}", "canary")


def scrape_counters(port):
    """Requests, 5xx responses and latency buckets from a backend's Prometheus text."""
    status, body = http_get(port, "/metrics?format=prometheus")
    counts = {"total": 0.0, "errors": 0.0, "buckets": {}}
    if status != 200:
        return counts
    for line in body.splitlines():
        if not line.startswith("http_request_duration_seconds_"):
            continue
        name, _, value = line.rpartition(" ")
        labels = dict(part.split("=", 1) for part in name[name.find("{") + 1:name.rfind("}")].replace('"', "").split(",") if "=" in part)
        if labels.get("route") == "/health":
            continue  # the deploy's own health checks are not the app's traffic
        try:
            v = float(value)
        except ValueError:
            continue
        if name.startswith("http_request_duration_seconds_count"):
            counts["total"] += v
            if labels.get("status", "").startswith("5"):
                counts["errors"] += v
        elif name.startswith("http_request_duration_seconds_bucket"):
            le = labels.get("le", "+Inf")
            counts["buckets"][le] = counts["buckets"].get(le, 0.0) + v
    return counts


def judge(before, after, spec):
    """None when the canary is healthy so far, else what is wrong (query, value, threshold)."""
    total = after["total"] - before["total"]
    if total < spec.get("min_requests", 5):
        return None
    errors = after["errors"] - before["errors"]
    ratio = errors / total
    if ratio > spec["max_error_ratio"]:
        return f"5xx ratio {ratio:.3f} > {spec['max_error_ratio']} (5xx responses / requests of the canary, {int(errors)}/{int(total)})"
    buckets = sorted(((float("inf") if le == "+Inf" else float(le), c - before["buckets"].get(le, 0.0)) for le, c in after["buckets"].items()))
    for le, count in buckets:
        if count >= 0.99 * total:
            if le > spec["max_p99"]:
                return f"p99 latency {le}s > {spec['max_p99']}s (histogram bucket holding 99% of the canary's requests)"
            break
    return None


def schedule_drain_stop(paths, plan, color, switch_id):
    log = open(os.path.join(paths.state_dir, f"stop-{color}.log"), "w")
    subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "drain-stop", paths.app, color, switch_id, str(plan["drain_seconds"])],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
    )


# ---------------------------------------------------------------------------------------------
# One release folder (a colour, or the app folder with recreate)


def release_env(plan, release, ports, bind, project):
    env = dict(plan["compose_env"])
    env.update(
        {
            "COMPOSE_PROJECT_NAME": project,
            plan["env_names"]["bind"]: bind,
            plan["env_names"]["image_tag"]: release["tag"],
            plan["env_names"]["git_sha"]: release.get("git_sha", ""),
            plan["env_names"]["deployed_at"]: now(),
        }
    )
    for component, name in plan["env_names"]["ports"].items():
        env[name] = str(ports.get(component, ""))
    return env


def write_secrets(folder, plan, values):
    """The release's secrets as files in <folder>/secrets (0700, the deploy user's only), mounted
    by compose at /run/secrets/<NAME>. Rewritten whole at each release of the folder, so a secret
    removed from the profile is gone from the host. The files are 0444: the folder keeps other
    host users out, and the container's own user (not the deploy user) must read them."""
    spec = plan.get("secrets") or {}
    names = sorted(spec.get("names", []))
    directory = os.path.join(folder, "secrets")
    override = os.path.join(folder, "docker-compose.secrets.yml")
    if not names:
        shutil.rmtree(directory, ignore_errors=True)
        if os.path.exists(override):
            os.unlink(override)
        return None
    fresh = tempfile.mkdtemp(prefix=".secrets-", dir=folder)
    os.chmod(fresh, 0o700)
    for name in names:
        path = os.path.join(fresh, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(values[name])
        os.chmod(path, 0o444)
    old = directory + ".old"
    if os.path.exists(directory):
        os.rename(directory, old)
    os.rename(fresh, directory)
    shutil.rmtree(old, ignore_errors=True)
    lines = ["# Written by Conveyor: the release's secrets, mounted at /run/secrets/<NAME>.", "services:"]
    for service in spec.get("services", ["backend"]):
        lines += [f"  {service}:", "    secrets:"] + [f"      - {n}" for n in names]
    lines.append("secrets:")
    for name in names:
        lines += [f"  {name}:", f"    file: ./secrets/{name}"]
    write_atomic(override, "\n".join(lines) + "\n")
    return "docker-compose.yml:docker-compose.secrets.yml"


def write_release_folder(folder, plan, env, secret_values=None):
    os.makedirs(folder, mode=0o750, exist_ok=True)
    shutil.copyfile(plan["compose_file"], os.path.join(folder, "docker-compose.yml"))
    if secret_values is not None:
        files = write_secrets(folder, plan, secret_values)
        if files:
            env["COMPOSE_FILE"] = files
        else:
            env.pop("COMPOSE_FILE", None)
    body = "".join(f"{k}={v}\n" for k, v in env.items())
    write_atomic(
        os.path.join(folder, ".env"),
        f"# Written by Conveyor: {plan['action']} of {env[plan['env_names']['image_tag']]} ({plan['app']}, {plan['env']}).\n" + body,
        0o600,
    )


def gate(plan, release, ports, deadline):
    """Waits (wall clock) until every component answers, then checks the backend runs the
    release: its /metrics must report the tag and the commit."""
    checks = plan["gate"]
    pending = [(c, checks[c]) for c in plan["components"] if c in checks]
    while pending:
        component, path = pending[0]
        status, _ = http_get(ports[component], path)
        if status == 200:
            pending.pop(0)
            continue
        if time.monotonic() >= deadline:
            raise Failure(f"{component} did not answer {path} on port {ports[component]} with 200 within {plan['health_timeout']}s (last: {status or 'no answer'})", "gate")
        time.sleep(0.25)
    for check in plan.get("checks", []):
        while True:
            status, _ = http_get(check["port"], check["path"])
            if status == 200:
                break
            if time.monotonic() >= deadline:
                raise Failure(f"port {check['port']} did not answer {check['path']} with 200 within {plan['health_timeout']}s", "gate")
            time.sleep(0.25)
    if plan.get("version_check"):
        version = served_version(ports["backend"]) or {}
        if version.get("image_tag") != release["tag"]:
            raise Failure(f"/metrics reports image tag {version.get('image_tag')!r}, expected {release['tag']!r}", "gate")
        want_sha = release.get("git_sha") or ""
        if want_sha and version.get("git_sha") != want_sha:
            raise Failure(f"/metrics reports commit {version.get('git_sha')!r}, expected {want_sha!r}", "gate")


def check_image_ids(engine, folder, env, ids):
    running = engine.running_images(folder, env)
    for component, want in ids.items():
        got = running.get(component)
        if got is None:
            raise Failure(f"{component} is not running after the start", "start")
        if got.replace("sha256:", "") != want.replace("sha256:", ""):
            raise Failure(f"{component} runs image {got[:19]}, not the release's {want[:19]}", "start")


def before_switch_hook(plan, paths, color, port):
    """The user's hooks/before-switch.sh, uploaded for this run: runs once the new release passed
    its gate, before it takes traffic; a non-zero exit stops the release."""
    hook = os.path.join(paths.runs, plan["run_id"] + ".before-switch")
    if not os.path.exists(hook):
        return
    out("hook", name="before-switch")
    env = {
        "CONVEYOR_APP": plan["app"], "CONVEYOR_ENV": plan["env"], "CONVEYOR_ACTION": plan["action"],
        "CONVEYOR_TAG": plan["target"]["tag"], "CONVEYOR_GIT_SHA": plan["target"].get("git_sha", ""),
        "CONVEYOR_COLOR": color or "", "CONVEYOR_PORT": str(port), "CONVEYOR_APP_PATH": paths.app,
    }
    try:
        p = run(["/bin/sh", hook], cwd=paths.app, env=env, check=False, timeout=300)
    except subprocess.TimeoutExpired:
        raise Failure("the before-switch hook did not end within 300s", "switch")
    finally:
        os.unlink(hook)
    if p.returncode != 0:
        raise Failure(f"the before-switch hook failed (exit {p.returncode}): {(p.stderr or p.stdout).strip()[-300:]}", "switch")


def container_logs(engine, folder, env):
    p = engine.compose_run(folder, ["logs", "--no-color", "--tail", "60"], env, check=False, timeout=60)
    return (p.stdout + p.stderr)[-8000:]


class Foreign:
    """A compose project of this app and environment whose containers run from a folder that is
    not this release's, or whose files are gone (a deploy_path emptied under running containers).
    Its containers are the ones found now: what the take-over stops and removes, nothing else."""

    def __init__(self, engine, project, folder):
        self.project = project
        self.folder = folder
        # The release's app folder: a colour's or the proxy's folder sits in it, recreate is it.
        self.app_path = os.path.dirname(folder) if os.path.basename(folder) in COLORS + ("proxy",) else folder
        self.gone = not os.path.exists(os.path.join(folder, "docker-compose.yml"))
        self.containers = project_containers(engine, project, folder)

    def ids(self, running_only=False):
        return [cid for cid, running, _ in self.containers if running or not running_only]


def project_containers(engine, project, folder):
    """[(id, running, created)] of a compose project's containers that run from folder (found by
    their labels, whether or not the folder exists)."""
    p = run([engine.cli, "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={project}"], check=False)
    found = []
    for cid in p.stdout.split():
        q = run([engine.cli, "inspect", "--format",
                 '{{.State.Running}}|{{.Created}}|{{index .Config.Labels "com.docker.compose.project.working_dir"}}', cid], check=False)
        parts = q.stdout.strip().split("|")
        if q.returncode == 0 and len(parts) == 3 and parts[2] == folder:
            found.append((cid, parts[0] == "true", parts[1]))
    return found


def remove_containers(engine, ids):
    if ids:
        run([engine.cli, "rm", "-f", *ids], check=False)


def check_projects(engine, plan, paths):
    """Compose project names are global on an engine: a project of this app and environment that
    runs from another folder is named here before anything changes. Its folder gone: an abandoned
    release, which `--replaceAbandoned` retires. Its folder there: a live clash (the same app
    deployed twice to this host), unless it is the old deploy_path `--moveFrom` names.
    Returns the foreign projects this release takes over."""
    app, env, prefix = plan["app"], plan["env"], plan["project_prefix"]
    mine = {prefix: paths.app, f"{prefix}-proxy": paths.proxy}
    mine.update({f"{prefix}-{c}": paths.color_dir(c) for c in COLORS})
    take = plan.get("take_over") or {}
    command = f"nx run {app}:deploy --configuration={env}"
    foreign = []
    for project, folder in mine.items():
        p = run([engine.cli, "ps", "-a", "--filter", f"label=com.docker.compose.project={project}",
                 "--format", '{{.Label "com.docker.compose.project.working_dir"}}'], check=False)
        for other in sorted(set(p.stdout.split())):
            if os.path.realpath(other) == os.path.realpath(folder) and os.path.exists(os.path.join(folder, "docker-compose.yml")):
                continue
            f = Foreign(engine, project, other)
            if take.get("kind") == "move" and os.path.realpath(f.app_path) == os.path.realpath(take.get("from", "")):
                foreign.append(f)
            elif f.gone and take.get("kind") == "abandoned":
                foreign.append(f)
            elif f.gone:
                raise Failure(
                    f"compose project {project} runs from {other}, but its folder is gone: an abandoned release of {app} "
                    f"({env}), deployed from a folder that no longer exists. Retire it with: {command} --replaceAbandoned "
                    "(the new release starts beside it and takes its ports over once it has passed its health gate; "
                    "only that app and environment's containers are removed).",
                    "lock",
                )
            else:
                raise Failure(
                    f"compose project {project} already runs from {other}, not {folder}: {app} of {env} is deployed to "
                    "this host from another folder. Use one deploy_path per app and environment on a host. If you moved "
                    f"deploy_path, move the release: {command} --moveFrom={os.path.dirname(f.app_path)}",
                    "lock",
                )
    if take.get("kind") and not foreign:
        what = f"{take['from']} runs no release of {app} ({env})" if take.get("kind") == "move" else \
            f"no abandoned release of {app} ({env}) runs on this host"
        raise Failure(f"{what}: nothing to take over; deploy without --{'moveFrom' if take.get('kind') == 'move' else 'replaceAbandoned'}", "lock")
    return foreign


def check_ports_free(engine, ports, folder, env, what):
    """Before a start: ports must be free, unless this folder's own containers hold them."""
    if os.path.exists(os.path.join(folder, "docker-compose.yml")) and engine.running_images(folder, env):
        return
    for component, port in ports.items():
        if port and port_in_use(port):
            raise Failure(f"port {port} ({what} {component}) is already in use on the host by something this release does not own; choose other ports", "start")


# ---------------------------------------------------------------------------------------------
# The release


class Release:
    def __init__(self, plan, auth):
        self.plan = plan
        self.paths = Paths(plan["app_path"])
        self.engine = Engine(plan)
        self.login = RegistryLogin(plan["registry"], auth)
        self.secret_values = (auth or {}).get("secrets") or {}
        self.foreign = []  # compose projects of this app and environment taken over from another folder
        self.target = plan["target"]
        self.phase = "lock"

    def note(self, phase, **fields):
        self.phase = phase
        out("phase", phase=phase, **fields)

    # -- before anything changes

    def check_identity(self, state):
        owner = state.get("env")
        if owner and owner != self.plan["env"]:
            raise Failure(
                f"{self.paths.app} holds {self.plan['app']} of environment {owner!r}; this {self.plan['env']!r} deploy "
                "would replace it. Give each environment its own deploy_path (and ports).",
                "lock",
            )

    def reconcile(self, state):
        """After a fault (cut, kill, reboot, proxy restart), bring the host back to what serves:
        the proxy running on its persisted colour, the live colour running, the state naming
        what the proxy routes to."""
        plan, paths = self.plan, self.paths
        if plan["strategy"] != "blue-green" or not os.path.exists(os.path.join(paths.proxy, "docker-compose.yml")):
            return state
        routed = proxy_routes(paths, plan["components"])
        if routed is None:
            out("repair", what="the proxy does not answer: starting it from its files")
            start_proxy(self.engine, paths, plan)
            routed = proxy_routes(paths, plan["components"])
        if routed is None:
            return state
        folder = paths.color_dir(routed)
        tag = read_text(os.path.join(folder, ".tag"))
        if tag and not served_version(read_text(os.path.join(folder, ".port"))):
            env = read_env_file(folder)
            if env:
                out("repair", what=f"colour {routed} ({tag}) is routed but not running: starting it")
                self.engine.compose_run(folder, ["up", "-d"], env, check=False)
                deadline = time.monotonic() + plan["health_timeout"]
                while time.monotonic() < deadline and not served_version(read_text(os.path.join(folder, ".port"))):
                    time.sleep(0.25)
        current = state.get("current") or {}
        if tag and (current.get("tag") != tag or current.get("color") != routed):
            info = read_json(paths.release_file(tag), {"tag": tag})
            previous = current if current.get("tag") and current.get("tag") != tag else state.get("previous")
            state = {**state, "current": {**info, "color": routed}, "previous": previous}
            save_state(paths, state)
            append_history(paths, {"action": "repair", "result": "ok", "tag": tag, "color": routed, "who": plan["deployer"],
                                   "reason": f"the proxy routes to {routed} ({tag}); the state said {current.get('color')} ({current.get('tag')})"})
            out("repair", what=f"state now names what the proxy routes to: {tag} on {routed}")
        return state

    def live_and_healthy(self, state):
        current = state.get("current") or {}
        if current.get("tag") != self.target["tag"]:
            return False
        if current.get("secrets_hash", "") != (self.plan.get("secrets") or {}).get("hash", ""):
            return False  # same images, changed secrets: a new release
        version = served_version(self.plan["public_ports"]["backend"]) if self.plan.get("version_check") else None
        if self.plan.get("version_check"):
            return bool(version) and version.get("image_tag") == self.target["tag"] and (
                not self.target.get("git_sha") or version.get("git_sha") == self.target["git_sha"])
        status, _ = http_get(self.plan["public_ports"]["backend"], self.plan["gate"]["backend"])
        return status == 200

    # -- the sequence

    def run(self):
        plan, paths = self.plan, self.paths
        os.makedirs(paths.releases, mode=0o750, exist_ok=True)
        lock = Lock(paths, plan["deployer"], plan["action"], self.target["tag"], plan["run_id"], plan.get("hold_id", ""))
        try:
            lock.acquire(plan["lock_timeout"])
        except LockHeld as held:
            return self.lock_held(held.holder)
        # A move holds the old path's lock too: no release starts there while this one takes over.
        move_from = (plan.get("take_over") or {}).get("from", "")
        old_lock = Lock(Paths(move_from), plan["deployer"], "move", self.target["tag"], plan["run_id"]) \
            if move_from and os.path.isdir(Paths(move_from).state_dir) else None
        try:
            if old_lock:
                old_lock.acquire(plan["lock_timeout"])
        except LockHeld as held:
            lock.release()
            return self.lock_held(held.holder)
        try:
            missing = [n for n in (plan.get("secrets") or {}).get("names", []) if n not in self.secret_values]
            if missing:
                raise Failure(f"the plan's secret {missing[0]} did not reach the host", "lock")
            state = load_state(paths)
            self.check_identity(state)
            plan["project_prefix"] = host_prefix(state, paths, plan["project_prefix"], plan["strategy"])
            state = self.reconcile(state)
            expect = plan.get("expect_live")
            if expect is not None and (state.get("current") or {}).get("tag", "") != expect:
                live = (state.get("current") or {}).get("tag", "")
                if live == self.target["tag"] and self.live_and_healthy(state):
                    return self.finish("noop", state)
                raise Failure(f"the live release is {live or 'none'}, not {expect} as planned: run the command again", "lock")
            if not plan.get("force") and self.live_and_healthy(state):
                return self.finish("noop", state)
            return self.roll_out(state)
        except Failure as f:
            return self.failed(f, load_state(paths))
        except Exception as e:  # noqa: BLE001 - any fault ends as a recorded, reported failure
            return self.failed(Failure(f"{type(e).__name__}: {e}", self.phase), load_state(paths))
        finally:
            self.login.close()
            if old_lock:
                old_lock.release()
            lock.release()

    def roll_out(self, state):
        plan, paths, engine = self.plan, self.paths, self.engine
        current = state.get("current") or {}
        self.foreign = check_projects(engine, plan, paths)
        self.note("pull", tag=self.target["tag"])
        ids = pull_release(engine, plan, self.target, self.login)
        if self.foreign:
            state = self.adopt_history(state)
        if plan["strategy"] == "blue-green":
            ensure_image(engine, plan["proxy_image"], self.login)
            return self.blue_green(state, current, ids)
        return self.recreate(state, current, ids)

    # -- taking over a release that runs from another folder (abandoned, or an old deploy_path)

    def adopt_history(self, state):
        """A move keeps the old path's history and releases (a rollback can go back to them); an
        abandoned release's history went with its folder: the history starts anew, and says so."""
        take, paths = self.plan["take_over"], self.paths
        entry = {"action": "take-over", "result": "ok", "kind": take["kind"], "who": self.plan["deployer"],
                 "run_id": self.plan["run_id"], "from": sorted({f.app_path for f in self.foreign}),
                 "projects": sorted({f.project for f in self.foreign})}
        if take["kind"] == "move":
            old = Paths(take["from"])
            if os.path.exists(old.history):
                # The old path's history first, then what this path recorded so far (a refusal).
                lines = [t for t in (read_text(old.history), read_text(paths.history)) if t]
                write_atomic(paths.history, "\n".join(lines) + "\n")
            for name in os.listdir(old.releases) if os.path.isdir(old.releases) else []:
                if not os.path.exists(os.path.join(paths.releases, name)):
                    shutil.copyfile(os.path.join(old.releases, name), os.path.join(paths.releases, name))
            old_state = load_state(old)
            if old_state.get("current") and not state.get("current"):
                state = {**state, "previous": old_state["current"]}
        else:
            entry["note"] = "the abandoned release's folder is gone with its history: this history starts here"
        append_history(paths, entry)
        out("take-over", kind=take["kind"], projects=entry["projects"], old=entry["from"])
        return state

    def take_over_color(self):
        """The colour the new release starts as: one the old release does not run (the older of
        two running colours was draining when its folder went). Its old containers are removed
        now, the rest once the new release has taken the ports over."""
        prefix = self.plan["project_prefix"]
        found = {c: [f for f in self.foreign if f.project == f"{prefix}-{c}"] for c in COLORS}
        running = {c: [cid for f in found[c] for cid in f.ids(running_only=True)] for c in COLORS}
        idle = [c for c in COLORS if not running[c]]
        if idle:
            color = idle[0]
        else:  # RFC 3339 times sort as text
            newest = {c: max(created for f in found[c] for _, _, created in f.containers) for c in COLORS}
            color = min(COLORS, key=lambda c: newest[c])
        for f in found[color]:
            remove_containers(self.engine, f.ids())
            f.containers = []
        return color

    def retire_foreign(self):
        """Removes the containers found in the projects taken over (by id: a container the new
        release started under the same project name is never touched), and leaves the old path of
        a move unable to start them again."""
        # Compose may have adopted an old container of the same project and folder (a deploy_path
        # emptied under it): what the new release's folders now run is kept.
        own = set()
        for folder in (self.paths.app, self.paths.proxy, *(self.paths.color_dir(c) for c in COLORS)):
            env = read_env_file(folder)
            if env and os.path.exists(os.path.join(folder, "docker-compose.yml")):
                own.update(self.engine.compose_run(folder, ["ps", "-q"], env, check=False).stdout.split())
        for f in self.foreign:
            remove_containers(self.engine, [cid for cid in f.ids() if not any(o.startswith(cid) or cid.startswith(o) for o in own)])
        take = self.plan["take_over"]
        if take["kind"] == "move":
            old = Paths(take["from"])
            for folder in (old.proxy, old.color_dir("blue"), old.color_dir("green"), old.app):
                compose = os.path.join(folder, "docker-compose.yml")
                if os.path.exists(compose):
                    os.replace(compose, os.path.join(folder, "docker-compose.moved.yml"))
            if os.path.isdir(old.state_dir):
                old_state = load_state(old)
                save_state(old, {**old_state, "current": None, "moved_to": self.paths.app})
                append_history(old, {"action": "move", "result": "ok", "to": self.paths.app, "who": self.plan["deployer"],
                                     "run_id": self.plan["run_id"], "tag": (old_state.get("current") or {}).get("tag", "")})
        out("retired", projects=sorted({f.project for f in self.foreign}))

    def blue_green(self, state, current, ids):
        plan, paths, engine = self.plan, self.paths, self.engine
        old_color = current.get("color") if current.get("tag") else None
        new_color = self.take_over_color() if self.foreign else "green" if old_color == "blue" else "blue"
        folder = paths.color_dir(new_color)
        ports = plan["color_ports"][new_color]
        env = release_env(plan, self.target, ports, "127.0.0.1:", f"{plan['project_prefix']}-{new_color}")
        self.note("start", color=new_color)
        check_ports_free(engine, ports, folder, read_env_file(folder) or env, f"colour {new_color}")
        write_release_folder(folder, plan, env, self.secret_values)
        try:
            engine.compose_run(folder, ["up", "-d", "--remove-orphans"], env)
            write_atomic(os.path.join(folder, ".tag"), self.target["tag"] + "\n")
            write_atomic(os.path.join(folder, ".port"), str(ports["backend"]) + "\n")
            self.note("gate", color=new_color)
            gate(plan, self.target, ports, time.monotonic() + plan["health_timeout"])
            check_image_ids(engine, folder, env, ids)
            before_switch_hook(plan, paths, new_color, ports["backend"])
        except Failure as f:
            f.logs = container_logs(engine, folder, env)
            engine.compose_run(folder, ["stop"], env, check=False)
            raise
        # The new colour is healthy: now the proxy (first blue-green release: after a recreate one).
        self.note("switch", color=new_color)
        if not os.path.exists(os.path.join(paths.proxy, "docker-compose.yml")) or proxy_routes(paths, plan["components"]) is None:
            try:
                self.first_proxy(new_color, folder, env)
            except Failure:
                engine.compose_run(folder, ["stop"], env, check=False)
                raise
        elif plan.get("canary") and old_color:
            self.canary(old_color, new_color, folder, env)
            return self.canary_promoted(state, current, old_color, new_color)
        else:
            try:
                switch_id = switch_proxy(paths, plan, new_color)
                self.check_public()
            except Failure:
                if old_color:
                    switch_proxy(paths, plan, old_color)
                engine.compose_run(folder, ["stop"], env, check=False)
                raise
            if old_color:
                schedule_drain_stop(paths, plan, old_color, switch_id)
        # Switched and checked through the proxy: from here on nothing undoes the switch.
        self.note("record")
        new_state = self.record(state, current, new_color)
        return self.finish("ok", new_state)

    # -- canary: the new colour takes a growing share of requests, judged at every step

    def canary(self, old_color, new_color, folder, env):
        """Weights step through plan.canary.steps (HAProxy's runtime weights, no reload). At each
        step the canary's own counters (its /metrics, Prometheus text) are compared with the
        thresholds every interval; a failed analysis sets its weight to 0 at once, then stops it
        after its drain time, and fails the release with the query, the value and the threshold."""
        plan, paths = self.plan, self.paths
        spec = plan["canary"]
        port = plan["color_ports"][new_color]["backend"]
        abort_file = os.path.join(paths.state_dir, "abort")
        promote_file = os.path.join(paths.state_dir, "promote")
        for stale in (abort_file, promote_file):
            if os.path.exists(stale):
                os.unlink(stale)
        out("canary", analysis="the canary's own /metrics counters (no Prometheus query configured)")
        before = scrape_counters(port)
        for weight in spec["steps"]:
            if weight >= 100 or os.path.exists(promote_file):
                if os.path.exists(promote_file):
                    os.unlink(promote_file)
                    out("canary-promote", color=new_color, at=now())
                return
            set_weights(paths, plan, new_color, weight, old_color, 100 - weight)
            self.note("canary", color=new_color, weight=weight)
            end = time.monotonic() + spec["pause"]
            while time.monotonic() < end and not os.path.exists(promote_file):
                time.sleep(min(spec["interval"], max(end - time.monotonic(), 0.05)))
                verdict = judge(before, scrape_counters(port), spec)
                aborted = os.path.exists(abort_file)
                if verdict or aborted:
                    set_weights(paths, plan, new_color, 0, old_color, 100)
                    for component in plan["components"]:
                        admin(paths, f"set server {component}/{new_color} state maint")
                    out("canary-abort", color=new_color, weight_now=0, at=now(), reason=verdict or "aborted on request")
                    if aborted:
                        os.unlink(abort_file)
                    switch_id = f"{os.getpid()}-{time.time_ns()}"
                    write_atomic(paths.last_switch, switch_id + "\n")
                    schedule_drain_stop(paths, plan, new_color, switch_id)
                    raise Failure(f"canary {verdict or 'aborted on request'}; weight 0 since {now()}", "canary")

    def canary_promoted(self, state, current, old_color, new_color):
        plan, paths = self.plan, self.paths
        for component in plan["components"]:
            admin(paths, f"set weight {component}/{new_color} 100")
            admin(paths, f"set weight {component}/{old_color} 100")
        switch_id = switch_proxy(paths, plan, new_color)
        self.check_public()
        schedule_drain_stop(paths, plan, old_color, switch_id)
        self.note("record")
        return self.finish("ok", self.record(state, current, new_color))

    def first_proxy(self, new_color, folder, env):
        """The proxy starts once. A recreate-style release holding the public ports is stopped only
        now (its replacement is healthy, the proxy image is on the host) and restarted if the
        proxy cannot take over."""
        plan, paths, engine = self.plan, self.paths, self.engine
        legacy = os.path.join(paths.app, "docker-compose.yml")
        legacy_env = read_env_file(paths.app) if os.path.exists(legacy) else None
        write_proxy_files(paths, plan, new_color)
        # A release taken over still holds the public ports: stopped only now, the switch of the ports.
        old_proxy = [cid for f in self.foreign if f.project.endswith("-proxy") or f.project == plan["project_prefix"]
                     for cid in f.ids(running_only=True)]
        if old_proxy:
            run([engine.cli, "stop", "-t", "2", *old_proxy], check=False)
        elif legacy_env is None:
            check_ports_free(engine, plan["public_ports"], paths.proxy, proxy_env(plan), "public")
        else:
            engine.compose_run(paths.app, ["stop"], legacy_env, check=False)
        try:
            start_proxy(engine, paths, plan)
            if proxy_routes(paths, plan["components"]) != new_color:
                raise Failure(f"the new proxy does not route to {new_color}", "switch")
            self.check_public()
        except Failure:
            engine.compose_run(paths.proxy, ["down"], proxy_env(plan), check=False)
            if old_proxy:
                run([engine.cli, "start", *old_proxy], check=False)
            if legacy_env is not None:
                engine.compose_run(paths.app, ["up", "-d"], legacy_env, check=False)
            engine.compose_run(folder, ["stop"], env, check=False)
            raise
        if legacy_env is not None:
            engine.compose_run(paths.app, ["down"], legacy_env, check=False)
            os.replace(legacy, os.path.join(paths.app, "docker-compose.recreate.yml"))
        if self.foreign:
            self.retire_foreign()
        write_atomic(paths.last_switch, f"{os.getpid()}-{time.time_ns()}\n")

    def check_public(self):
        plan = self.plan
        deadline = time.monotonic() + 10
        while True:
            if plan.get("version_check"):
                version = served_version(plan["public_ports"]["backend"]) or {}
                if version.get("image_tag") == self.target["tag"]:
                    return
                got = version.get("image_tag")
            else:
                got, _ = http_get(plan["public_ports"]["backend"], plan["gate"]["backend"])
                if got == 200:
                    return
            if time.monotonic() >= deadline:
                raise Failure(f"through the public port {plan['public_ports']['backend']} the release does not answer (got {got!r})", "switch")
            time.sleep(0.2)

    def recreate(self, state, current, ids):
        plan, paths, engine = self.plan, self.paths, self.engine
        folder = paths.app
        ports = plan["public_ports"]
        env = release_env(plan, self.target, ports, "", plan["project_prefix"])
        old_env = read_env_file(folder)
        held = [cid for f in self.foreign for cid in f.ids(running_only=True)]
        if held:
            # A release taken over holds the public ports: recreate replaces in place, as any
            # recreate deploy (compose adopts a container of the same project name). Its other
            # containers are started again when the new release fails its gate.
            run([engine.cli, "stop", "-t", "2", *held], check=False)
        elif old_env is None:
            check_ports_free(engine, ports, folder, env, "public")
        before_switch_hook(plan, paths, None, ports["backend"])
        self.note("start")
        write_release_folder(folder, plan, env, self.secret_values)
        try:
            engine.compose_run(folder, ["up", "-d", "--remove-orphans"], env)
            write_atomic(os.path.join(folder, ".tag"), self.target["tag"] + "\n")
            self.note("gate")
            gate(plan, self.target, ports, time.monotonic() + plan["health_timeout"])
            check_image_ids(engine, folder, env, ids)
        except Failure as f:
            f.logs = container_logs(engine, folder, env)
            if old_env and current.get("tag"):
                out("restore", tag=current["tag"])
                write_release_folder(folder, plan, old_env)
                engine.compose_run(folder, ["up", "-d", "--remove-orphans"], old_env, check=False)
                write_atomic(os.path.join(folder, ".tag"), current["tag"] + "\n")
                try:
                    gate(plan, current, ports, time.monotonic() + plan["health_timeout"])
                except Failure:
                    pass
            elif held:
                engine.compose_run(folder, ["down"], env, check=False)
                run([engine.cli, "start", *held], check=False)
            raise
        if self.foreign:
            self.retire_foreign()
        self.note("record")
        return self.finish("ok", self.record(state, current, None))

    def record(self, state, current, color):
        plan, paths = self.plan, self.paths
        info = {k: v for k, v in self.target.items()}
        write_json(paths.release_file(self.target["tag"]), info)
        info["secrets_hash"] = (plan.get("secrets") or {}).get("hash", "")
        previous = current if current.get("tag") and current.get("tag") != self.target["tag"] else state.get("previous")
        new_state = {**state, "env": plan["env"], "app": plan["app"], "strategy": plan["strategy"], "project_prefix": plan["project_prefix"],
                     "current": {**info, "color": color}, "previous": previous}
        save_state(paths, new_state)
        # The release is live and the state says so: a history that cannot be written is worth a
        # warning, never a rollback of what now takes the traffic.
        try:
            append_history(paths, {"action": plan["action"], "result": "ok", "tag": self.target["tag"], "from": current.get("tag", ""),
                                   "git_sha": self.target.get("git_sha", ""), "color": color, "who": plan["deployer"], "run_id": plan["run_id"]})
            self.prune(new_state)
        except OSError as e:
            out("warning", what=f"the release is live, but its history entry could not be written: {e}")
        return new_state

    def prune(self, state):
        """Keeps the metadata of the live and previous releases and the last few others."""
        keep = {(state.get(k) or {}).get("tag") for k in ("current", "previous")}
        files = sorted((os.path.join(self.paths.releases, f) for f in os.listdir(self.paths.releases)), key=os.path.getmtime)
        for path in files[:-10]:
            if os.path.basename(path)[:-5] not in keep:
                os.unlink(path)

    # -- endings

    def finish(self, status, state):
        current = state.get("current") or {}
        if status == "noop":
            append_history(self.paths, {"action": self.plan["action"], "result": "noop", "tag": self.target["tag"], "who": self.plan["deployer"], "run_id": self.plan["run_id"]})
        out("result", status=status, tag=self.target["tag"], live=current.get("tag", ""), color=current.get("color"),
            previous_tag=(state.get("previous") or {}).get("tag", ""))
        return 0

    def failed(self, failure, state):
        failure.phase = failure.phase or self.phase
        current = state.get("current") or {}
        try:
            self.record_failure(failure)
        except OSError as e:
            out("warning", what=f"the history could not be written: {e}")
        live_version = served_version(self.plan["public_ports"]["backend"]) if self.plan.get("version_check") else None
        live = (live_version or {}).get("image_tag", "") if self.plan.get("version_check") else current.get("tag", "")
        out("result", status="failed", tag=self.target["tag"], phase=failure.phase, error=str(failure), live=live,
            previous_tag=current.get("tag", ""), restored=bool(current.get("tag")) and live == current.get("tag"), logs=failure.logs)
        return 1

    def record_failure(self, failure):
        append_history(self.paths, {"action": self.plan["action"], "result": "failed", "tag": self.target["tag"], "phase": failure.phase,
                                    "error": str(failure)[:500], "who": self.plan["deployer"], "run_id": self.plan["run_id"]})

    def lock_held(self, holder):
        alive = holder_alive(holder)
        out("result", status="lock-held", holder=describe_holder(holder), alive=alive, pid=(holder or {}).get("pid"))
        return 4


def host_prefix(state, paths, planned, strategy):
    """The compose project prefix this host already uses for the app: the names of running
    releases never change under them (an app first deployed by an older Conveyor, whose projects
    were <app>-blue, <app>-proxy or <app>, keeps them). A recreate release moving to blue-green
    takes the planned names: its old containers are stopped by name from their own .env."""
    if state.get("project_prefix"):
        return state["project_prefix"]
    name = (read_env_file(paths.proxy) or {}).get("COMPOSE_PROJECT_NAME", "")
    if name.endswith("-proxy"):
        return name[: -len("-proxy")]
    if strategy == "recreate":
        return (read_env_file(paths.app) or {}).get("COMPOSE_PROJECT_NAME") or planned
    return planned


def read_env_file(folder):
    path = os.path.join(folder, ".env")
    if not os.path.exists(path):
        return None
    env = {}
    for line in read_text(path).splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            env[k] = v
    return env


# ---------------------------------------------------------------------------------------------
# Fast rollback, drain stop, status, history, break-lock


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
        # A release of this run still going on here (the caller went away mid-way) keeps the lock
        # until it has its result.
        log = os.path.join(paths.runs, run_id + ".log")
        deadline = time.monotonic() + 900
        while os.path.exists(log) and '"event": "result"' not in read_text(log) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        lock.release()
    return 0


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
    }
    print(json.dumps(result))
    return 0 if agree else 2


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


def history(app_path, limit):
    for entry in read_history(Paths(app_path), limit):
        print(json.dumps(entry))
    return 0


def break_lock_command(app_path, who):
    paths = Paths(app_path)
    holder = read_holder(paths)
    if holder is None:
        out("result", status="ok", broken=False, message="the lock is free")
        return 0
    alive = holder_alive(holder)
    if alive:
        out("result", status="lock-held", holder=describe_holder(holder), alive=True,
            message=f"the holder is alive (pid {holder.get('pid')}): wait for it, or stop that process first")
        return 4
    break_lock(paths, holder, who, "broken on request" if alive is None else "holder is dead")
    out("result", status="ok", broken=True, holder=describe_holder(holder))
    return 0


# ---------------------------------------------------------------------------------------------
# Entry: a release runs detached from the caller's connection


def load_plan(path):
    if path == "-":
        try:
            plan = json.loads(sys.stdin.read())
        except ValueError:
            plan = None
    else:
        plan = read_json(path)
    if not isinstance(plan, dict) or plan.get("version") != 1:
        raise SystemExit(f"{path}: not a Conveyor release plan (version 1)")
    return plan


def detached_release(plan_path, auth):
    """Runs the release in a process of its own session, which a cut connection or a killed
    caller does not stop: the release always ends in a consistent state. The caller follows its
    output until it ends."""
    plan = load_plan(plan_path)
    paths = Paths(plan["app_path"])
    os.makedirs(paths.runs, mode=0o750, exist_ok=True)
    write_json(os.path.join(paths.state_dir, "engine.json"),
               {"engine_command": plan["engine_command"], "compose_command": plan["compose_command"], "components": plan["components"]})
    log_path = os.path.join(paths.runs, plan["run_id"] + ".log")
    auth_fd_r, auth_fd_w = os.pipe()
    log = open(log_path, "w")
    child = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "release-worker", plan_path],
        stdin=auth_fd_r, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
    )
    os.close(auth_fd_r)
    os.write(auth_fd_w, json.dumps(auth or {}).encode())
    os.close(auth_fd_w)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with open(log_path) as f:
        while True:
            line = f.readline()
            if line:
                try:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                except (BrokenPipeError, OSError):
                    pass
                continue
            if child.poll() is not None:
                rest = f.read()
                if rest:
                    try:
                        sys.stdout.write(rest)
                        sys.stdout.flush()
                    except (BrokenPipeError, OSError):
                        pass
                break
            time.sleep(0.05)
    prune_runs(paths)
    return child.returncode


def prune_runs(paths):
    logs = sorted((os.path.join(paths.runs, f) for f in os.listdir(paths.runs)), key=os.path.getmtime)
    for path in logs[:-20]:
        os.unlink(path)


def release_worker(plan_path):
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    auth = json.loads(sys.stdin.read() or "{}")
    plan = load_plan(plan_path)
    try:
        return Release(plan, auth).run()
    finally:
        try:
            os.unlink(plan_path)
        except OSError:
            pass


def follow(app_path, run_id, wait_seconds=900):
    """Prints a run's progress lines as the release writes them, until its result."""
    path = os.path.join(Paths(app_path).runs, run_id + ".log")
    deadline = time.monotonic() + float(wait_seconds)
    while not os.path.exists(path):
        if time.monotonic() >= deadline:
            return 1
        time.sleep(0.05)
    with open(path) as f:
        while time.monotonic() < deadline:
            line = f.readline()
            if not line:
                time.sleep(0.05)
                continue
            try:
                sys.stdout.write(line)
                sys.stdout.flush()
            except (BrokenPipeError, OSError):
                return 0
            if '"event": "result"' in line:
                return 0
    return 1


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 64
    command, args = argv[1], argv[2:]
    if command == "release":
        auth = json.loads(sys.stdin.read() or "{}") if not sys.stdin.isatty() else {}
        return detached_release(args[0], auth)
    if command == "release-worker":
        return release_worker(args[0])
    if command == "switch-back":
        return switch_back(load_plan(args[0]))
    if command in ("abort", "promote"):
        write_atomic(os.path.join(Paths(args[0]).state_dir, command), now() + "\n")
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
    if command == "break-lock":
        return break_lock_command(args[0], args[1] if len(args) > 1 else "unknown")
    print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
