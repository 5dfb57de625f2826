"""The release: one plan carried out from the lock to the record (blue-green with or without a
canary, recreate, the take-over of a release that runs from another folder), ending in a
consistent state whatever fails; and one release folder (a colour, or the app folder with
recreate): its .env, its secrets, its health gate and the before-switch hook."""
import os
import re
import shutil
import subprocess
import tempfile
import time

from . import edge
from .database import Database, OVERRIDE
from .canary import analysis_for
from .common import (
    COLORS, Failure, http_get, now, out, read_env_file, read_json, read_text, served_version, write_atomic, write_json,
)
from .drain import schedule_drain_stop
from .engine import (
    check_image_ids, check_ports_free, container_logs, Engine, ensure_image, pull_release, RegistryLogin, run,
)
from .history import append_history
from .lock import describe_holder, holder_alive, Lock, LockHeld
from .proxy import (
    admin, Handover, new_switch, proxy_config, proxy_env, proxy_routes, proxy_servers, reload_proxy, set_weights, start_proxy,
    switch_proxy, write_proxy_files,
)
from .state import load_state, Paths, save_state
from .takeover import check_projects, remove_containers


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
    # With COMPOSE_FILE set, compose no longer reads docker-compose.override.yml by itself: the
    # user's override (put in each release folder by the playbook or the release bundle) is named,
    # between the two, so it still applies and the secrets still come last.
    files = ["docker-compose.yml"]
    if os.path.exists(os.path.join(folder, "docker-compose.override.yml")):
        files.append("docker-compose.override.yml")
    return ":".join(files + ["docker-compose.secrets.yml"])


def up_command(plan, folder):
    """`up -d` of the release, its containers all made anew: a component of the compose file that this plan does not deploy (an
    app's frontend before it has a port) is scaled to 0, so it never runs on its default port, the
    one the proxy takes once the component is deployed."""
    try:
        with open(os.path.join(folder, "docker-compose.yml")) as f:
            text = f.read()
    except OSError:
        text = ""
    idle = [c for c in ("backend", "frontend") if c not in plan["components"] and re.search(rf"^  {c}:\s*$", text, re.M)]
    # Every container anew: a frontend left running beside a recreated backend keeps the old
    # backend's address in its nginx, and /api/ answers 502 (a browser test found it).
    return ["up", "-d", "--force-recreate", "--remove-orphans", *(arg for c in idle for arg in ("--scale", f"{c}=0"))]


def write_release_folder(folder, plan, env, secret_values=None, database_override=None):
    """The release's files in its folder; with a database service, an override that puts the
    release on the database's network (last, after the secrets)."""
    os.makedirs(folder, mode=0o750, exist_ok=True)
    shutil.copyfile(plan["compose_file"], os.path.join(folder, "docker-compose.yml"))
    if secret_values is not None:
        files = write_secrets(folder, plan, secret_values)
        extra = os.path.join(folder, OVERRIDE)
        if database_override:
            write_atomic(extra, database_override)
            files = (files or "docker-compose.yml") + ":" + OVERRIDE
        elif os.path.exists(extra):
            os.unlink(extra)
        if files:
            env["COMPOSE_FILE"] = files
        else:
            env.pop("COMPOSE_FILE", None)
    write_env(folder, plan, env)


def write_env(folder, plan, env):
    body = "".join(f"{k}={v}\n" for k, v in env.items())
    write_atomic(
        os.path.join(folder, ".env"),
        f"# Written by Conveyor: {plan['action']} of {env.get(plan['env_names']['image_tag'], '')} ({plan['app']}, {plan['env']}).\n" + body,
        0o600,
    )


# What a release folder runs from besides its .env: a new release rewrites each of them.
RELEASE_FILES = ("docker-compose.yml", "docker-compose.override.yml", "docker-compose.secrets.yml", OVERRIDE, "secrets")


def keep_release_folder(folder):
    """A copy of the files the folder's release runs from, taken before a new release rewrites
    them: a failed recreate puts these back (the new plan's compose file and secrets would start
    something else than what served). In a folder only the deploy user reads: it holds secrets."""
    kept = tempfile.mkdtemp(prefix=".kept-", dir=folder)
    for name in RELEASE_FILES:
        path = os.path.join(folder, name)
        if os.path.isdir(path):
            shutil.copytree(path, os.path.join(kept, name))
        elif os.path.exists(path):
            shutil.copy2(path, os.path.join(kept, name))
    return kept


def restore_release_folder(folder, kept, plan, env):
    """Puts back exactly what keep_release_folder kept (a file the new release added goes), and
    the .env that went with it."""
    for name in RELEASE_FILES:
        path, saved = os.path.join(folder, name), os.path.join(kept, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)
        if os.path.lexists(saved):
            os.rename(saved, path)
    write_env(folder, plan, env)


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
        # A /metrics that does not answer 200 is asked again until the gate's deadline (an app
        # may fail some requests: the canary judges that); a wrong release fails at once.
        version = served_version(ports["backend"])
        while version is None and time.monotonic() < deadline:
            time.sleep(0.25)
            version = served_version(ports["backend"])
        version = version or {}
        if version.get("image_tag") != release["tag"]:
            raise Failure(f"/metrics reports image tag {version.get('image_tag')!r}, expected {release['tag']!r}", "gate")
        want_sha = release.get("git_sha") or ""
        if want_sha and version.get("git_sha") != want_sha:
            raise Failure(f"/metrics reports commit {version.get('git_sha')!r}, expected {want_sha!r}", "gate")


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


def browser_gate(plan, paths, ports):
    """gate.e2e: the new colour passed its gate; the deploy runs the app's browser tests against
    its frontend (its port on this host, through an SSH tunnel) and writes the verdict with
    `browser-gate`. Nothing has switched yet: a failure, or no verdict in time, stops the release
    and the old colour serves on."""
    spec = plan.get("browser_gate")
    if not spec or "frontend" not in ports:
        return
    verdict_file = os.path.join(paths.runs, plan["run_id"] + ".browser-gate")
    out("browser-gate", port=ports["frontend"], tag=plan["target"]["tag"])
    deadline = time.monotonic() + spec["timeout"]
    while not os.path.exists(verdict_file):
        if time.monotonic() >= deadline:
            raise Failure(f"no browser test verdict within {spec['timeout']}s (the deploy that waits for it went away?)", "gate")
        time.sleep(0.25)
    verdict = read_text(verdict_file)
    os.unlink(verdict_file)
    if verdict != "pass":
        raise Failure(f"the browser tests failed against the new colour before the switch: {verdict.partition(' ')[2] or verdict}", "gate")


def write_browser_verdict(app_path, run_id, verdict):
    """`browser-gate APP_PATH RUN_ID pass|fail [WHY]`: the verdict a waiting release reads."""
    paths = Paths(app_path)
    if not re.fullmatch(r"[A-Za-z0-9._-]+", run_id or ""):
        out("result", status="failed", error=f"not a run id: {run_id!r}")
        return 1
    write_atomic(os.path.join(paths.runs, run_id + ".browser-gate"), verdict + "\n")
    out("result", status="ok")
    return 0


class Release:
    def __init__(self, plan, auth):
        self.plan = plan
        self.paths = Paths(plan["app_path"])
        self.engine = Engine(plan)
        self.login = RegistryLogin(plan["registry"], auth)
        self.secret_values = (auth or {}).get("secrets") or {}
        self.foreign = []  # compose projects of this app and environment taken over from another folder
        self.database = None  # the app's database (plan "database"), once the project prefix is known
        self.migrated = {}  # what the release's migrations did, for the history
        self.target = plan["target"]
        self.phase = "lock"
        self.started = time.time()

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
            # Recorded only when it serves: a proxy started from files a failed release left, or
            # routing to a colour that does not run its release, is no state to follow.
            if not self.serves(read_text(os.path.join(folder, ".port")), tag):
                out("repair", what=f"the proxy routes to {routed} ({tag}), which does not answer as {tag}: {routed} stays "
                                   f"unrecorded (the state names {current.get('tag') or 'no release'})")
                return state
            info = read_json(paths.release_file(tag), {"tag": tag})
            previous = current if current.get("tag") and current.get("tag") != tag else state.get("previous")
            state = {**state, "current": {**info, "color": routed}, "previous": previous}
            save_state(paths, state)
            append_history(paths, {"action": "repair", "result": "ok", "tag": tag, "color": routed, "who": plan["deployer"],
                                   "reason": f"the proxy routes to {routed} ({tag}); the state said {current.get('color')} ({current.get('tag')})"})
            out("repair", what=f"state now names what the proxy routes to: {tag} on {routed}")
        return state

    def serves(self, port, tag):
        """Whether the release on port answers (as tag, when the plan checks versions)."""
        if self.plan.get("version_check"):
            return (served_version(port) or {}).get("image_tag") == tag
        return http_get(port, self.plan["gate"]["backend"])[0] == 200

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
        """The release, from the lock to the record. The registry login's folder is removed on
        every way out: a held lock, a fault before the lock (a folder that cannot be made), the
        release's own end."""
        try:
            return self.carry_out()
        finally:
            self.login.close()

    def carry_out(self):
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
            if plan.get("edge"):
                edge.claim(plan["edge"], self.engine.cli)
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
            if old_lock:
                old_lock.release()
            lock.release()

    def roll_out(self, state):
        plan, paths, engine = self.plan, self.paths, self.engine
        current = state.get("current") or {}
        self.foreign = check_projects(engine, plan, paths)
        self.note("pull", tag=self.target["tag"])
        ids = pull_release(engine, plan, self.target, self.login)
        if plan.get("database"):
            self.prepare_database()
        if self.foreign:
            state = self.adopt_history(state)
        if plan["strategy"] == "blue-green":
            ensure_image(engine, plan["proxy_image"], self.login)
            return self.blue_green(state, current, ids)
        return self.recreate(state, current, ids)

    # -- the app's database

    def prepare_database(self):
        """The database the release connects to (a service started, its URL made the release's
        DATABASE_URL secret); the secret files then name it like any other secret."""
        plan = self.plan
        self.note("database", kind=plan["database"]["kind"])
        self.database = Database(plan["database"], self.engine, self.paths.app, plan["project_prefix"], self.secret_values)
        self.database.prepare(self.login)
        spec = plan.get("secrets") or {"names": [], "hash": "", "services": ["backend"]}
        if "DATABASE_URL" not in spec["names"]:
            spec = {**spec, "names": sorted(spec["names"] + ["DATABASE_URL"])}
        plan["secrets"] = spec

    def migrate(self, folder, env, live):
        """The release's migrations, by one container of the new image in its folder, before
        any container of the release starts (`live`: a release serves here meanwhile)."""
        if not self.database or not self.plan["database"].get("migrate"):
            return
        self.note("migrate")
        # A project of its own: compose (1.x) links a `run` container to the running containers
        # of its project, which Podman refuses, and the colour's folder may still run a release.
        own = {**env, "COMPOSE_PROJECT_NAME": f"{self.plan['project_prefix']}-migrate"}
        try:
            self.migrated = self.database.migrate(
                lambda args: self.engine.compose_run(folder, args, own, check=False, timeout=1800), self.target["tag"], live)
        finally:
            self.engine.compose_run(folder, ["down", "--remove-orphans"], own, check=False)

    def release_folder(self, folder, env):
        write_release_folder(folder, self.plan, env, self.secret_values, self.database.override() if self.database else None)

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
        self.release_folder(folder, env)
        try:
            self.migrate(folder, env, bool(current.get("tag")) or bool(self.foreign))
            engine.compose_run(folder, up_command(plan, folder), env)
            write_atomic(os.path.join(folder, ".tag"), self.target["tag"] + "\n")
            write_atomic(os.path.join(folder, ".port"), str(ports["backend"]) + "\n")
            self.note("gate", color=new_color)
            gate(plan, self.target, ports, time.monotonic() + plan["health_timeout"])
            check_image_ids(engine, folder, env, ids)
            before_switch_hook(plan, paths, new_color, ports["backend"])
            browser_gate(plan, paths, ports)
        except Failure as f:
            f.logs = container_logs(engine, folder, env)
            engine.compose_run(folder, ["stop"], env, check=False)
            raise
        # The new colour is healthy: now the proxy, as it answers. None runs (the first blue-green
        # release, after a recreate one; or it stopped): it starts. It lacks a component of this
        # release: its configuration is reloaded in place. Else a switch, which also ends a state
        # with both colours taking requests (a canary that died mid-step).
        self.note("switch", color=new_color)
        has_proxy = os.path.exists(os.path.join(paths.proxy, "docker-compose.yml"))
        servers = proxy_servers(paths, attempts=2) if has_proxy else None
        if servers is None and has_proxy and engine.running_images(paths.proxy, proxy_env(plan)):
            engine.compose_run(folder, ["stop"], env, check=False)
            raise Failure(f"the proxy runs but its runtime API ({paths.proxy_sock}) does not answer: nothing was switched and the "
                          f"proxy was left as it is. Restart it (in {paths.proxy}: {' '.join(engine.compose)} restart), then deploy again",
                          "switch")
        if servers is None:
            try:
                self.first_proxy(new_color, folder, env)
            except Failure:
                engine.compose_run(folder, ["stop"], env, check=False)
                raise
        elif any(component not in servers for component in plan["components"]):
            switch_id = self.reshape_proxy(servers, new_color, folder, env)
            if old_color:
                schedule_drain_stop(paths, plan, old_color, switch_id)
        elif plan.get("canary") and old_color:
            self.canary(old_color, new_color, folder, env)
            return self.canary_promoted(state, current, old_color, new_color, folder, env)
        else:
            try:
                switch_id = switch_proxy(paths, plan, new_color)
                self.check_public()
            except (Failure, OSError):
                if old_color:
                    self.switch_back(old_color)
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
        step the canary is judged every interval (canary.analysis_for: PromQL on the profile's
        Prometheus, else its own /metrics counters); a failed analysis sets its weight to 0 at
        once, then stops it after its drain time, and fails the release with the query, the value
        and the threshold. No data counts as failure: a canary that does not answer (from the
        start, or once it stopped), restarted, or had too few requests by the end of a step."""
        plan, paths = self.plan, self.paths
        spec = plan["canary"]
        port = plan["color_ports"][new_color]["backend"]
        abort_file = os.path.join(paths.state_dir, "abort")
        promote_file = os.path.join(paths.state_dir, "promote")
        # Left by an earlier run: gone. One asked for during this run (its caller went away while
        # it pulled) stays, and aborts the canary at its first analysis.
        for stale in (abort_file, promote_file):
            if os.path.exists(stale) and os.path.getmtime(stale) < self.started:
                os.unlink(stale)

        def abort(verdict, aborted=False):
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

        analysis = analysis_for(spec, new_color, old_color, port)
        out("canary", analysis=analysis.describe())
        verdict = analysis.start()
        if verdict:
            abort(verdict)  # before it takes any request
        for weight in spec["steps"]:
            if weight >= 100 or os.path.exists(promote_file):
                if os.path.exists(promote_file):
                    os.unlink(promote_file)
                    out("canary-promote", color=new_color, at=now())
                return
            set_weights(paths, plan, new_color, weight, old_color, 100 - weight)
            self.note("canary", color=new_color, weight=weight)
            analysis.begin_step()
            end = time.monotonic() + spec["pause"]
            # Judged every interval, and once more when the pause is over (step_over): that last
            # judgement fails a step that too few requests reached.
            while not os.path.exists(promote_file):
                time.sleep(min(spec["interval"], max(end - time.monotonic(), 0.05)))
                step_over = time.monotonic() >= end
                verdict = analysis.check(step_over)
                aborted = os.path.exists(abort_file)
                if aborted and not verdict:
                    who = read_text(abort_file).partition(" ")[2]
                    verdict = f"aborted on request{f' by {who}' if who else ''}"
                if verdict or aborted:
                    abort(verdict, aborted)
                if step_over:
                    break

    def canary_promoted(self, state, current, old_color, new_color, folder, env):
        """The canary passed: every request goes to it. A switch or a public check that fails puts
        every request back on the old colour (at its full weight) and stops the canary, so the
        proxy serves what the state still names."""
        plan, paths = self.plan, self.paths
        try:
            for component in plan["components"]:
                admin(paths, f"set weight {component}/{new_color} 100")
                admin(paths, f"set weight {component}/{old_color} 100")
            switch_id = switch_proxy(paths, plan, new_color)
            self.check_public()
        except (Failure, OSError):
            self.switch_back(old_color)
            self.engine.compose_run(folder, ["stop"], env, check=False)
            raise
        schedule_drain_stop(paths, plan, old_color, switch_id)
        self.note("record")
        return self.finish("ok", self.record(state, current, new_color))

    def switch_back(self, color):
        """After a failed switch, every request back on the colour that served. A switch back that
        fails too is reported, never raised over the failure that called for it."""
        try:
            switch_proxy(self.paths, self.plan, color)
            out("restore", color=color)
        except (Failure, OSError) as e:
            out("warning", what=f"the proxy could not be switched back to {color}: {e}")

    def reshape_proxy(self, servers, new_color, folder, env):
        """The proxy runs but has no backend for a component of this release (the app gained one):
        its configuration, rewritten for every component on the new colour, is loaded in place
        (reload_proxy: the public ports keep answering). On failure the previous configuration
        comes back and is loaded again (or the proxy starts from it if it no longer runs): the
        proxy is never taken down, and serves the old colour as before."""
        plan, paths, engine = self.plan, self.paths, self.engine
        had = sorted(servers)
        routed_before = proxy_routes(paths, had)
        previous = read_raw(paths.proxy_cfg) or proxy_config({**plan, "components": had}, routed_before) + "\n"
        out("proxy", what=f"the proxy has no backend for {', '.join(c for c in plan['components'] if c not in servers)}: "
                          "its configuration is reloaded in place")
        try:
            write_atomic(paths.proxy_cfg, proxy_config(plan, new_color) + "\n")
            reload_proxy(engine, paths, plan, plan["components"], new_color)
            self.check_public()
        except (Failure, OSError):
            out("restore", what="the proxy's previous configuration", color=routed_before)
            write_atomic(paths.proxy_cfg, previous)
            try:
                reload_proxy(engine, paths, plan, had, routed_before)
            except (Failure, OSError):
                try:
                    start_proxy(engine, paths, plan)
                except Failure as e:
                    out("warning", what=f"the proxy's previous configuration is back in {paths.proxy_cfg}, but the proxy did not load it: {e}")
            engine.compose_run(folder, ["stop"], env, check=False)
            raise
        return new_switch(paths)

    def first_proxy(self, new_color, folder, env):
        """The proxy starts once. A recreate-style release holding the public ports is stopped only
        now (its replacement is healthy, the proxy image is on the host) and restarted if the
        proxy cannot take over. A proxy whose files are there but that does not run (it stopped
        since the release began) starts on this release's colour; if it cannot, its files come
        back as they were and it starts on them: a proxy of this app is never taken down."""
        plan, paths, engine = self.plan, self.paths, self.engine
        legacy = os.path.join(paths.app, "docker-compose.yml")
        legacy_env = read_env_file(paths.app) if os.path.exists(legacy) else None
        kept = {path: read_raw(path) for path in (paths.proxy_cfg, os.path.join(paths.proxy, "docker-compose.yml"),
                                                  os.path.join(paths.proxy, ".env"))}
        # A release taken over still holds the public ports. Its proxy: the new one starts beside it
        # (proxy_beside). Its containers publish the ports themselves (a recreate release): they
        # stop only now, and the switch of the ports is the time the new proxy takes to start.
        old_proxy = [cid for f in self.foreign if f.project.endswith("-proxy") for cid in f.ids(running_only=True)]
        old_direct = [cid for f in self.foreign if f.project == plan["project_prefix"] for cid in f.ids(running_only=True)]
        handover = Handover(engine, paths, plan)
        if not old_proxy and handover.running():  # left by a take-over whose new proxy did not start
            return self.replace_handover(handover, new_color)
        beside = bool(old_proxy) and not old_direct and self.proxy_beside(new_color, old_proxy)
        old = [] if beside else old_proxy + old_direct
        if old:
            # SIGTERM is HAProxy's hard stop: the ports are free at once. (Its image's stop signal is
            # the soft stop, which waits for idle keep-alive connections to send a request: with
            # `idle-close-on-response` that is up to the stop timeout under load.)
            run([engine.cli, "kill", "--signal", "TERM", *old], check=False)
            run([engine.cli, "stop", "-t", "2", *old], check=False)
        elif legacy_env is not None:
            engine.compose_run(paths.app, ["stop"], legacy_env, check=False)
        elif not beside:
            check_ports_free(engine, plan["public_ports"], paths.proxy, proxy_env(plan), "public")
        try:
            if not beside:
                # Written only now: a check above that fails leaves the files as they were.
                write_proxy_files(paths, plan, new_color)
                start_proxy(engine, paths, plan)
            if proxy_routes(paths, plan["components"]) != new_color:
                raise Failure(f"the new proxy does not route to {new_color}", "switch")
            self.check_public()
        except (Failure, OSError) as e:
            if getattr(e, "serving", False):
                raise
            if kept[os.path.join(paths.proxy, "docker-compose.yml")] is not None and not old_proxy and not old_direct and legacy_env is None:
                out("restore", what="the proxy's previous files")
                for path, text in kept.items():
                    if text is not None:
                        write_atomic(path, text)
                try:
                    start_proxy(engine, paths, plan)
                except Failure as e:
                    out("warning", what=f"the proxy's previous files are back in {paths.proxy}, but it did not start from them: {e}")
            else:
                engine.compose_run(paths.proxy, ["down"], proxy_env(plan), check=False)
            if old_proxy or old_direct:
                run([engine.cli, "start", *old_proxy, *old_direct], check=False)
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

    def proxy_beside(self, new_color, old_proxy):
        """A take-over of a release whose proxy runs: a hand-over proxy on the new configuration
        listens beside the old proxy, which then gets its soft stop (it stops listening at once,
        and closes each keep-alive connection with its next response) and goes; the new proxy
        starts under the project's name beside the hand-over one, which then goes too. False, the
        old proxy untouched, when the hand-over proxy cannot start (an old proxy that binds
        without SO_REUSEPORT): the old proxy then stops before the new one starts."""
        plan, paths, engine = self.plan, self.paths, self.engine
        write_proxy_files(paths, plan, new_color)
        handover = Handover(engine, paths, plan)
        try:
            handover.start(new_color)
        except Failure as e:
            out("warning", what=f"{e}: the old proxy stops before the new one starts")
            return False
        run([engine.cli, "stop", "-t", "5", *old_proxy], check=False)
        remove_containers(engine, old_proxy)
        try:
            start_proxy(engine, paths, plan)
        except Failure as e:
            failure = Failure(f"{e}. The hand-over proxy {handover.name} (outside compose) serves {new_color} on the "
                              "public ports: deploy again to replace it", "switch")
            failure.serving = True  # the new colour serves through it: not to be stopped
            raise failure from e
        handover.remove(stop_timeout=5)
        return True

    def replace_handover(self, handover, new_color):
        """The new proxy starts beside a hand-over proxy left running, which then goes."""
        write_proxy_files(self.paths, self.plan, new_color)
        start_proxy(self.engine, self.paths, self.plan)
        handover.remove(stop_timeout=5)
        if proxy_routes(self.paths, self.plan["components"]) != new_color:
            raise Failure(f"the new proxy does not route to {new_color}", "switch")
        self.check_public()
        write_atomic(self.paths.last_switch, f"{os.getpid()}-{time.time_ns()}\n")

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
        kept = keep_release_folder(folder) if old_env else None
        try:
            self.release_folder(folder, env)
            self.migrate(folder, env, bool(current.get("tag")) or bool(self.foreign))
            engine.compose_run(folder, up_command(plan, folder), env)
            write_atomic(os.path.join(folder, ".tag"), self.target["tag"] + "\n")
            self.note("gate")
            gate(plan, self.target, ports, time.monotonic() + plan["health_timeout"])
            check_image_ids(engine, folder, env, ids)
        except Failure as f:
            f.logs = container_logs(engine, folder, env)
            if old_env and current.get("tag"):
                out("restore", tag=current["tag"])
                restore_release_folder(folder, kept, plan, old_env)
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
        finally:
            if kept:
                shutil.rmtree(kept, ignore_errors=True)
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
                     "public_ports": plan["public_ports"], "current": {**info, "color": color}, "previous": previous}
        if plan.get("database"):
            new_state["database"] = {k: plan["database"][k] for k in ("kind", "image", "name", "user", "keep") if k in plan["database"]}
        save_state(paths, new_state)
        # The release is live and the state says so: a history that cannot be written is worth a
        # warning, never a rollback of what now takes the traffic.
        try:
            append_history(paths, {"action": plan["action"], "result": "ok", "tag": self.target["tag"], "from": current.get("tag", ""),
                                   "git_sha": self.target.get("git_sha", ""), "color": color, "who": plan["deployer"], "run_id": plan["run_id"],
                                   **self.migrated})
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
        if self.plan.get("edge"):
            self.note("edge", domain=self.plan["edge"]["domain"])
            edge.serve(self.plan, self.secret_values, self.engine.cli, self.engine.compose)
            e = self.plan["edge"]
            served = {"domain": e["domain"], "https_port": e["https_port"], "http_port": e["http_port"], "path": e["path"]}
            if state.get("edge") != served:
                state = {**state, "edge": served}
                save_state(self.paths, state)
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


def read_raw(path):
    """A file's text as it is (None when absent), to be written back unchanged."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


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
