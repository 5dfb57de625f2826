"""The app's database on the host: the Postgres service (kind service: its own compose project,
named volume and network, which releases never restart or recreate; its password made here and
kept here), the release's migrations (checked against the plan, run by one container of the new
image before it takes traffic), and backups (pg_dump's custom format, each one restored into a
throw-away server and its row counts compared before it counts as a backup).

Every Postgres tool runs in a container of the plan's database image. The password reaches it on
stdin (a .pgpass line written inside the container), never on a command line, in an environment
variable or in `inspect`."""
import calendar
import json
import os
import re
import secrets as token
import shutil
import subprocess
import threading
import time
import urllib.parse

from .common import Failure, now, out, read_json, read_text, write_atomic, write_json
from .engine import ensure_image, run

URL = "DATABASE_URL"
PASSWORD = "POSTGRES_PASSWORD"
OVERRIDE = "docker-compose.database.yml"
ALIAS = "database"

# Counts every table's rows twice: in the dump's COPY data, and in a throw-away server the dump
# was restored into (as the image's postgres user, a socket in /tmp, no network).
VERIFY_SCRIPT = r"""set -e
umask 077
cat > /tmp/backup.dump
initdb -D /tmp/verify -U postgres --auth=trust >/dev/null
pg_ctl -D /tmp/verify -o "-c listen_addresses= -k /tmp" -w start >/dev/null
createdb -h /tmp verify
pg_restore -h /tmp -d verify --no-owner --no-privileges --exit-on-error /tmp/backup.dump
echo "== dump"
pg_restore -f - --data-only /tmp/backup.dump | awk '
  /^COPY / && !c { t = $2; n = 0; c = 1; next }
  c && $0 == "\\." { print t, n; c = 0; next }
  c { n++ }'
echo "== restored"
for t in $(psql -h /tmp -d verify -Atc "select quote_ident(schemaname) || '.' || quote_ident(tablename) from pg_tables where schemaname not in ('pg_catalog', 'information_schema')"); do
  echo "$t $(psql -h /tmp -d verify -Atc "select count(*) from $t")"
done
pg_ctl -D /tmp/verify -w stop >/dev/null
"""

# The password as a .pgpass line on the first line of stdin; the rest of stdin is the command's.
PGPASS = 'IFS= read -r line; umask 077; printf "%s\\n" "$line" > /tmp/.pgpass; export PGPASSFILE=/tmp/.pgpass; '


def pgpass_line(c):
    esc = lambda v: str(v).replace("\\", "\\\\").replace(":", "\\:")  # noqa: E731
    return ":".join(esc(v) for v in (c["host"], c["port"], c["dbname"], c["user"], c["password"])) + "\n"


def parse_url(url):
    """A postgres:// URL as connection fields (what libpq's variables name)."""
    u = urllib.parse.urlsplit(url.strip())
    if u.scheme not in ("postgres", "postgresql") or not u.hostname:
        raise Failure(f"the secret {URL} is not a postgres:// URL with a host", "database")
    query = dict(urllib.parse.parse_qsl(u.query))
    return {
        "host": u.hostname, "port": u.port or 5432,
        "user": urllib.parse.unquote(u.username or "postgres"),
        "password": urllib.parse.unquote(u.password or ""),
        "dbname": urllib.parse.unquote(u.path.lstrip("/")) or urllib.parse.unquote(u.username or "postgres"),
        "sslmode": query.get("sslmode", ""),
    }


def backup_name(reason, when=None):
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
    return f"{stamp}-{re.sub(r'[^a-z0-9-]', '-', reason)}"


def parse_counts(text):
    """The verify script's output: {"dump": {table: rows}, "restored": {table: rows}}."""
    counts, part = {"dump": {}, "restored": {}}, None
    for line in text.splitlines():
        if line.startswith("== "):
            part = line[3:].strip()
            continue
        fields = line.rsplit(" ", 1)
        if part in counts and len(fields) == 2 and fields[1].isdigit():
            counts[part][fields[0]] = int(fields[1])
    return counts


def compare_counts(counts):
    """Why the restored tables differ from the dump ("" when every table has the dump's rows)."""
    dump, restored = counts["dump"], counts["restored"]
    for table in sorted(set(dump) | set(restored)):
        if table not in restored:
            return f"table {table} of the dump is missing after the restore"
        if dump.get(table, 0) != restored[table]:
            return f"table {table}: {dump.get(table, 0)} rows in the dump, {restored[table]} restored"
    return ""


class Database:
    """The database of one app folder. `prefix` is the compose project prefix the host uses for
    the app; `secret_values` the release's secrets (a managed database's DATABASE_URL among them)."""

    def __init__(self, spec, engine, app_path, prefix, secret_values):
        self.spec = spec
        self.engine = engine
        self.app_path = app_path
        self.folder = os.path.join(app_path, "database")
        self.backups = os.path.join(app_path, "backups")
        self.project = f"{prefix}-db"
        self.secret_values = secret_values

    @property
    def service(self):
        return self.spec["kind"] == "service"

    # -- the service

    def password(self):
        """The service's password: made once on the host, kept in its folder (0700), never sent."""
        path = os.path.join(self.folder, "secrets", PASSWORD)
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            os.chmod(os.path.dirname(path), 0o700)
            fd = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(token.token_hex(24))
            # Read by the container's own user through the mount; the folder keeps host users out.
            os.chmod(path + ".new", 0o444)
            os.replace(path + ".new", path)
        return read_text(path)

    def compose_text(self):
        s = self.spec
        return "\n".join([
            f"# Written by Conveyor: the Postgres of {os.path.basename(self.app_path)}. Releases, rollbacks and previews",
            "# never restart or recreate it (up --no-recreate); its data is the named volume `data`.",
            "services:",
            "  postgres:",
            f"    image: {s['image']}",
            "    restart: unless-stopped",
            "    environment:",
            f"      POSTGRES_USER: {s['user']}",
            f"      POSTGRES_DB: {s['name']}",
            f"      POSTGRES_PASSWORD_FILE: /run/secrets/{PASSWORD}",
            "    secrets:",
            f"      - {PASSWORD}",
            "    volumes:",
            "      - data:/var/lib/postgresql/data",
            "    networks:",
            "      default:",
            f"        aliases: [{ALIAS}]",
            "volumes:",
            "  data: {}",
            "networks:",
            "  default:",
            f"    name: {self.project}",
            "secrets:",
            f"  {PASSWORD}:",
            f"    file: ./secrets/{PASSWORD}",
            "",
        ])

    def env(self):
        return {"COMPOSE_PROJECT_NAME": self.project}

    def container(self):
        p = self.engine.compose_run(self.folder, ["ps", "-q", "postgres"], self.env(), check=False)
        ids = p.stdout.split()
        return ids[0] if ids else ""

    def running(self, cid):
        p = run([self.engine.cli, "inspect", "--format", "{{.State.Running}}", cid], check=False)
        return p.stdout.strip() == "true"

    def ensure_service(self, login, timeout=90):
        """Starts the service when it does not run (its container and volume are made the first
        time; an existing container is never recreated) and waits until it takes connections."""
        os.makedirs(self.folder, mode=0o750, exist_ok=True)
        password = self.password()
        write_atomic(os.path.join(self.folder, "docker-compose.yml"), self.compose_text())
        write_atomic(os.path.join(self.folder, ".env"), f"COMPOSE_PROJECT_NAME={self.project}\n", 0o600)
        cid = self.container()
        if not cid or not self.running(cid):
            ensure_image(self.engine, self.spec["image"], login)
            out("database", what=f"starting the database service {self.project}")
            self.engine.compose_run(self.folder, ["up", "-d", "--no-recreate"], self.env())
            cid = self.container()
            if not cid:
                raise Failure(f"the database service {self.project} did not start", "database")
        deadline = time.monotonic() + timeout
        while True:
            # Over TCP: the image's first start initialises on a socket-only server first.
            p = run([self.engine.cli, "exec", cid, "pg_isready", "-q", "-h", "127.0.0.1", "-U", self.spec["user"], "-d", self.spec["name"]], check=False)
            if p.returncode == 0:
                break
            if time.monotonic() >= deadline:
                logs = run([self.engine.cli, "logs", "--tail", "30", cid], check=False)
                raise Failure(f"the database service {self.project} does not take connections after {timeout}s", "database",
                              logs=(logs.stdout + logs.stderr)[-4000:])
            time.sleep(0.5)
        return f"postgresql://{self.spec['user']}:{password}@{ALIAS}:5432/{self.spec['name']}"

    def prepare(self, login):
        """The database a release connects to: the service started (its URL becomes the
        release's DATABASE_URL secret), or the managed one's URL checked."""
        if self.service:
            self.secret_values[URL] = self.ensure_service(login)
        elif not self.secret_values.get(URL):
            raise Failure(f"the database is managed (the profile's database: managed) but the secret {URL} did not reach the host", "database")
        else:
            parse_url(self.secret_values[URL])

    def override(self):
        """The compose override that puts the release's services on the database's network."""
        if not self.service:
            return None
        service = (self.spec.get("migrate") or {}).get("service", "backend")
        return "\n".join([
            "# Written by Conveyor: the release reaches its database service on this network.",
            "services:",
            f"  {service}:",
            "    networks:",
            "      default: {}",
            "      conveyor-database: {}",
            "networks:",
            "  conveyor-database:",
            "    external: true",
            f"    name: {self.project}",
            "",
        ])

    # -- the tools (pg_dump, pg_restore, psql) in a container of the image

    def connection(self):
        if self.service:
            return {"host": ALIAS, "port": 5432, "user": self.spec["user"], "dbname": self.spec["name"],
                    "password": self.password(), "sslmode": ""}
        return parse_url(self.secret_values.get(URL, ""))

    def tool(self, script, stdin_tail=None, stdout=None, user=None, timeout=1800, network=True):
        """Runs `sh -c script` in a container of the database image. Its first stdin line is the
        .pgpass line (network: True), then stdin_tail (a path: the file's bytes)."""
        c = self.connection()
        argv = [self.engine.cli, "run", "--rm", "-i", "--log-driver", "none"]
        if user:
            argv += ["--user", user]
        if network:
            if self.service:
                argv += ["--network", self.project]
            argv += ["-e", f"PGHOST={c['host']}", "-e", f"PGPORT={c['port']}", "-e", f"PGUSER={c['user']}",
                     "-e", f"PGDATABASE={c['dbname']}"]
            if c.get("sslmode"):
                argv += ["-e", f"PGSSLMODE={c['sslmode']}"]
            script = PGPASS + script
        else:
            argv += ["--network", "none"]
        argv += [self.spec["image"], "sh", "-c", script]
        head = pgpass_line(c).encode() if network else b""
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE)

        def feed():  # streamed: a dump can be larger than this process's memory
            try:
                proc.stdin.write(head)
                if stdin_tail:
                    with open(stdin_tail, "rb") as f:
                        shutil.copyfileobj(f, proc.stdin, 1 << 20)
            except OSError:
                pass  # the tool ended early: its exit code says why
            finally:
                try:
                    proc.stdin.close()
                except OSError:
                    pass

        errors = []
        threads = [threading.Thread(target=feed, daemon=True),
                   threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)]
        for t in threads:
            t.start()
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            got = proc.stdout.read() if stdout is None else b""
            proc.wait()
        finally:
            timer.cancel()
        for t in threads:
            t.join(10)
        err = b"".join(errors)
        if proc.returncode is not None and proc.returncode < 0:
            raise Failure(f"a database tool did not end within {timeout}s", "backup")
        return proc.returncode, (got or b"").decode(errors="replace"), err.decode(errors="replace")

    # -- backups

    def backup(self, reason, tag="", login=None, protect=""):
        """pg_dump (custom format) into <app>/backups, verified by a restore into a throw-away
        server: a dump that does not restore with the same row counts is removed and fails."""
        if login is not None:
            ensure_image(self.engine, self.spec["image"], login)
        os.makedirs(self.backups, mode=0o700, exist_ok=True)
        name = backup_name(reason)
        path = os.path.join(self.backups, name + ".dump")
        partial = path + ".partial"
        out("backup", what=f"pg_dump into {path}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                code, _, err = self.tool("exec pg_dump -Fc", stdout=f)
            if code != 0:
                raise Failure(f"pg_dump failed (exit {code}): {err.strip()[-400:]}", "backup")
            os.replace(partial, path)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
        try:
            tables = self.verify(path)
        except Failure:
            os.unlink(path)
            raise
        info = {"name": name, "file": path, "reason": reason, "tag": tag, "created": now(), "size": os.path.getsize(path),
                "verified": {"at": now(), "tables": tables}, "kind": self.spec["kind"]}
        info["copied"] = self.copy_off(path) if self.spec.get("backup_command") else None
        write_json(os.path.join(self.backups, name + ".json"), info, 0o600)
        self.prune(protect)
        out("backup", what=f"{name}: {info['size']} bytes, verified ({', '.join(f'{t} {n}' for t, n in sorted(tables.items())) or 'no tables'})")
        return info

    def verify(self, path):
        code, text, err = self.tool(VERIFY_SCRIPT, stdin_tail=path, user="postgres", network=False)
        if code != 0:
            raise Failure(f"the backup {os.path.basename(path)} did not restore into a scratch database: {err.strip()[-400:]}", "backup")
        counts = parse_counts(text)
        problem = compare_counts(counts)
        if problem:
            raise Failure(f"the backup {os.path.basename(path)} did not restore whole: {problem}", "backup")
        return counts["restored"]

    def copy_off(self, path):
        env = dict(os.environ, CONVEYOR_BACKUP_FILE=path, CONVEYOR_APP_PATH=self.app_path)
        try:
            p = subprocess.run(["/bin/sh", "-c", self.spec["backup_command"]], env=env, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=1800)
        except subprocess.TimeoutExpired:
            out("warning", what="the backup_command did not end within 1800s")
            return False
        if p.returncode != 0:
            out("warning", what=f"the backup_command failed (exit {p.returncode}): {(p.stderr or p.stdout).strip()[-300:]}")
        return p.returncode == 0

    def prune(self, protect=""):
        """Keeps the newest `keep` verified backups (and `protect`: the one a restore reads)."""
        for info in list_backups(self.backups)[self.spec.get("keep", 7):]:
            if info["name"] == protect:
                continue
            for ext in (".dump", ".json"):
                try:
                    os.unlink(os.path.join(self.backups, info["name"] + ext))
                except OSError:
                    pass

    def restore(self, name, login=None):
        """Puts the database back as the backup holds it, in one transaction: the schema `public`
        is dropped and made again from the dump (tables a later migration added go too)."""
        info = read_json(os.path.join(self.backups, name + ".json"))
        path = os.path.join(self.backups, name + ".dump")
        if not isinstance(info, dict) or not os.path.exists(path):
            raise Failure(f"no backup {name} on this host (see status for the kept backups)", "restore")
        if login is not None:
            ensure_image(self.engine, self.spec["image"], login)
        script = ("cat > /tmp/backup.dump; { echo 'DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;'; "
                  "pg_restore -f - --no-owner --no-privileges /tmp/backup.dump; } | "
                  "psql -X -q -v ON_ERROR_STOP=1 --single-transaction >/dev/null")
        code, _, err = self.tool(script, stdin_tail=path)
        if code != 0:
            raise Failure(f"the restore of {name} failed and was undone (one transaction): {err.strip()[-400:]}", "restore")
        return info

    # -- migrations

    def migrate(self, compose_run, tag, live=True):
        """The release's pending migrations: asked of the database by the new image, checked
        against the plan (refused when one would break the live release and was not allowed;
        with no release live here, none can), a verified backup, then run by one container of the
        new image. Returns what the history records."""
        m = self.spec.get("migrate")
        if not m:
            return {}
        pending = self.pending(compose_run, m)
        if not pending:
            out("migrate", what="no pending migrations")
            return {}
        unchecked = [p for p in pending if p not in m["checked"]] if live else []
        breaking = [line for p in pending for line in m["checked"].get(p, [])] if live else []
        if (breaking or unchecked) and not m.get("allow_breaking"):
            lines = [f"  {line}" for line in breaking] + [
                f"  {p}: not in the workspace's migrations, so it was not checked (deploy from the release's commit)" for p in unchecked]
            raise Failure("\n".join([
                "a pending migration would break the live release (it keeps serving during the release, and a fast rollback returns to it):",
                *lines,
                "Nothing ran. Split the change over two releases (expand now, contract later), or deploy with --allowBreakingMigration (the history records it).",
            ]), "migrate")
        backup = self.backup("before-migration", tag)
        out("migrate", what=f"running {len(pending)} migration(s): {', '.join(pending)}")
        p = compose_run(["run", "--rm", "--no-deps", "-T", m["service"], *m["command"]])
        applied = last_json(p.stdout).get("applied")
        if p.returncode != 0 or applied is None:
            raise Failure(f"the migrations failed (exit {p.returncode}); the database is as it was (one transaction): "
                          f"{(p.stderr + p.stdout).strip()[-600:]}", "migrate")
        record = {"migrations": applied, "backup": backup["name"]}
        allowed = sorted({p for p in pending if m["checked"].get(p) or p in unchecked}) if live else []
        if allowed:
            record["breaking_allowed"] = allowed
        return record

    def pending(self, compose_run, m):
        p = compose_run(["run", "--rm", "--no-deps", "-T", m["service"], *m["pending_command"]])
        found = last_json(p.stdout).get("pending")
        if p.returncode != 0 or found is None:
            raise Failure(f"the new image could not list its pending migrations (exit {p.returncode}): "
                          f"{(p.stderr + p.stdout).strip()[-600:]}", "migrate")
        return found


def last_json(text):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return {}


def list_backups(folder):
    """The kept backups, newest first (their .json beside the .dump)."""
    found = []
    try:
        names = os.listdir(folder)
    except OSError:
        return found
    for name in names:
        if name.endswith(".json"):
            info = read_json(os.path.join(folder, name))
            if isinstance(info, dict) and os.path.exists(os.path.join(folder, name[:-5] + ".dump")):
                found.append(info)
    return sorted(found, key=lambda i: i.get("name", ""), reverse=True)


def backups_status(app_path, now_ts=None):
    """What status shows: each kept backup with size and age, and a warning when the newest
    verified one is older than a day (or there is none)."""
    folder = os.path.join(app_path, "backups")
    if not os.path.isdir(folder):
        return None
    now_ts = time.time() if now_ts is None else now_ts
    kept = []
    for info in list_backups(folder):
        created = calendar.timegm(time.strptime(info["name"][:16], "%Y%m%dT%H%M%SZ"))
        kept.append({"name": info["name"], "size": info.get("size", 0), "age_seconds": int(now_ts - created),
                     "reason": info.get("reason", ""), "tag": info.get("tag", ""), "verified": bool(info.get("verified")),
                     "copied": info.get("copied")})
    verified = [k for k in kept if k["verified"]]
    warning = ""
    if not verified:
        warning = "no verified backup is kept"
    elif verified[0]["age_seconds"] > 86400:
        warning = f"the last verified backup is {verified[0]['age_seconds'] // 3600} hours old (older than a day): run db-backup"
    return {"backups": kept, "warning": warning}


def remove_service(app_path, compose):
    """A preview's database goes with it: its container, network and volume."""
    folder = os.path.join(app_path, "database")
    env = read_text(os.path.join(folder, ".env"))
    if not os.path.exists(os.path.join(folder, "docker-compose.yml")) or "=" not in env:
        return False
    project = env.split("=", 1)[1].strip()
    run(compose + ["down", "-v", "--remove-orphans"], cwd=folder, env={"COMPOSE_PROJECT_NAME": project}, check=False)
    shutil.rmtree(folder, ignore_errors=True)
    return True
