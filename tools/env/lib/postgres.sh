#!/usr/bin/env bash
# A local Postgres image for the database and backup tests (nothing is started here):
#   localhost/conveyor/postgres:15   busybox + Debian's postgresql 15, set up like postgres:15
# It behaves like the official image where Conveyor relies on it: user postgres (999:999), PGDATA
# /var/lib/postgresql/data initialised on the first start from POSTGRES_USER, POSTGRES_PASSWORD(_FILE)
# and POSTGRES_DB, the server as PID 1 stopped by SIGINT, and every client tool (pg_dump,
# pg_restore, psql...) on the PATH, so `run --rm IMAGE pg_dump ...` works as root or --user postgres.
# Sourced by up.sh after images.sh (uses its helpers); needs ENGINE.
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file

POSTGRES_IMAGE=localhost/conveyor/postgres:15
PG_MAJOR=15
PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"
PG_LIB="/usr/lib/postgresql/$PG_MAJOR/lib"
PG_SHARE="/usr/share/postgresql/$PG_MAJOR"

# The image's entrypoint (busybox sh): the parts of the official docker-entrypoint.sh that Conveyor
# uses. Kept in this file so that the image is made from one place.
_postgres_entrypoint() {
  cat <<'SH'
#!/bin/sh
# docker-entrypoint.sh of localhost/conveyor/postgres (made by Conveyor's tools/env/lib/postgres.sh):
# the official postgres image's start-up, in busybox sh.
set -eu

# Only options ("-c x=y"): they are the server's, as in the official image.
case "${1:-}" in -*) set -- postgres "$@" ;; esac

# Anything else (pg_dump, psql, sh -c ...) runs as given, as whichever user started the container.
[ "${1:-}" = postgres ] || exec "$@"

# `postgres --version` and the like need no data folder.
for arg in "$@"; do
  case "$arg" in -V | --version | --help | -'?' | --describe-config | -C) exec "$@" ;; esac
done

PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export PGDATA

# The password file is read before dropping root (a secret is often readable by root only) and
# handed on in the environment, as the official image does.
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    echo "error: both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are set (but are exclusive)" >&2
    exit 1
  fi
  POSTGRES_PASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"
  export POSTGRES_PASSWORD
  unset POSTGRES_PASSWORD_FILE
fi

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  # A new named volume starts as a copy of the image's folder, which belongs to root: hand it to
  # postgres (only what is not its own yet: a big data folder is not rewritten at every start).
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres {} +
  chmod 700 "$PGDATA"
  chown postgres:postgres /var/run/postgresql
  chmod 3777 /var/run/postgresql
  export HOME=/var/lib/postgresql
  # By its path: busybox sh runs its own applets (its setpriv cannot change users) before PATH.
  exec /usr/bin/setpriv --reuid=postgres --regid=postgres --init-groups /usr/local/bin/docker-entrypoint.sh "$@"
fi

# Every file of this image belongs to root (the official image gives PGDATA to postgres): started
# as postgres, a PGDATA it does not own cannot become its 0700 data folder.
if [ ! -s "$PGDATA/PG_VERSION" ] && [ -d "$PGDATA" ] && [ ! -O "$PGDATA" ]; then
  echo "error: $PGDATA belongs to $(stat -c %U "$PGDATA"), not to $(id -un): start the container as root" \
    "(the default: the entrypoint gives PGDATA to postgres), or give the folder to uid $(id -u) first" >&2
  exit 1
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  POSTGRES_USER="${POSTGRES_USER:-postgres}"
  POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
  auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    cat >&2 <<'TXT'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a non-empty value for the
       superuser. To allow all connections without a password use "-e POSTGRES_HOST_AUTH_METHOD=trust"
       (not recommended).
TXT
    exit 1
  fi
  # The password reaches initdb in a file of its own (0600), never on a command line.
  pwfile=""
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    pwfile="$(mktemp)"
    trap 'rm -f "$pwfile"' EXIT
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  fi
  # POSTGRES_INITDB_ARGS is a list of words, as in the official image.
  # shellcheck disable=SC2086
  initdb --username="$POSTGRES_USER" ${pwfile:+"--pwfile=$pwfile"} \
    --auth-host="$auth" --auth-local=trust ${POSTGRES_INITDB_ARGS:-}
  rm -f "$pwfile"
  # listen_addresses = '*' comes from the image's postgresql.conf.sample.
  printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

  # The database and init scripts, on a server that listens on its unix socket only.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username="$POSTGRES_USER" --dbname=postgres \
      --set db="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db";
SQL
  fi
  # shellcheck disable=SC1090 # the image's user provides them
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
    *.sh) echo "running $f" && . "$f" ;;
    *.sql) echo "running $f" && psql -v ON_ERROR_STOP=1 --no-psqlrc --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" -f "$f" ;;
    *.sql.gz) echo "running $f" && gunzip -c "$f" | psql -v ON_ERROR_STOP=1 --no-psqlrc --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo "PostgreSQL init process complete; ready for start up."
fi

# The server needs none of it: keep the password out of its environment.
unset POSTGRES_PASSWORD
exec "$@"
SH
}

_build_postgres_image() {
  local rootfs="$1/postgres" f version
  _base_rootfs "$rootfs"
  # The official image's user and group ids: data folders and volumes made by one open in the other.
  printf 'postgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\n' >>"$rootfs/etc/passwd"
  printf 'postgres:x:999:\n' >>"$rootfs/etc/group"

  # Debian's build has its paths compiled in (sharedir, pkglibdir, tzdata, the socket folder):
  # everything stays at the same place.
  mkdir -p "$rootfs$PG_BIN" "$rootfs$PG_LIB" "$rootfs$(dirname "$PG_SHARE")"
  cp -a "$PG_BIN/." "$rootfs$PG_BIN/"
  # Without the JIT provider (llvmjit.so needs libLLVM and libz3, 130 MB, plus 26 MB of bitcode):
  # the server then runs queries without JIT, silently, like a build without LLVM.
  (cd "$PG_LIB" && find . -maxdepth 1 -type f ! -name 'llvmjit*' -exec cp -a {} "$rootfs$PG_LIB/" \;)
  cp -a "$PG_SHARE" "$rootfs$PG_SHARE"
  # Every new cluster listens on all addresses, as in the official image (its sample is edited too).
  sed -ri "s/^#?(listen_addresses)[[:space:]]*=[[:space:]]*[^[:space:]]+/\1 = '*'/" \
    "$rootfs$PG_SHARE/postgresql.conf.sample"
  grep -q "^listen_addresses = '\*'" "$rootfs$PG_SHARE/postgresql.conf.sample" ||
    fail images "$IMAGES_LOG" "could not set listen_addresses in postgresql.conf.sample"
  while read -r f; do
    _copy_libs "$rootfs" "$f"
  done < <(find "$PG_BIN" "$PG_LIB" -maxdepth 1 -type f ! -name 'llvmjit*' \( -perm -u+x -o -name '*.so' \))

  # initdb's time zones (Debian builds against the system tzdata) and the C.UTF-8 locale of LANG
  # (glibc 2.36 does not have it built in: it is a locale folder of libc-bin).
  mkdir -p "$rootfs/usr/share" "$rootfs/usr/lib/locale"
  cp -a /usr/share/zoneinfo "$rootfs/usr/share/"
  cp -a /usr/lib/locale/C.utf8 "$rootfs/usr/lib/locale/"
  # initdb runs `locale -a` to fill pg_collation ("no usable system locales were found" without it).
  _copy_file "$rootfs" /usr/bin/locale
  _copy_libs "$rootfs" /usr/bin/locale

  # util-linux setpriv drops root in the entrypoint (busybox's setpriv cannot change users).
  _copy_file "$rootfs" /usr/bin/setpriv
  _copy_libs "$rootfs" /usr/bin/setpriv

  # _import stores every file as root: the folders postgres writes to are world-writable (sticky)
  # here; the entrypoint, started as root, gives PGDATA to postgres (0700) before initdb.
  mkdir -p "$rootfs/var/lib/postgresql/data" "$rootfs/run/postgresql" "$rootfs/docker-entrypoint-initdb.d"
  chmod 1777 "$rootfs/var/lib/postgresql" "$rootfs/var/lib/postgresql/data"
  chmod 3777 "$rootfs/run/postgresql"
  ln -s ../run "$rootfs/var/run"
  _postgres_entrypoint >"$rootfs/usr/local/bin/docker-entrypoint.sh"
  chmod 0755 "$rootfs/usr/local/bin/docker-entrypoint.sh"
  ln -s usr/local/bin/docker-entrypoint.sh "$rootfs/docker-entrypoint.sh"

  version="$("$PG_BIN/postgres" --version | awk '{ print $3 }')"
  _import "$rootfs" "$POSTGRES_IMAGE" \
    "ENV $IMAGE_PATH_ENV:$PG_BIN" \
    "ENV PG_MAJOR=$PG_MAJOR" \
    "ENV PG_VERSION=$version" \
    'ENV PGDATA=/var/lib/postgresql/data' \
    'ENV LANG=C.UTF-8' \
    'STOPSIGNAL SIGINT' \
    'EXPOSE 5432' \
    'ENTRYPOINT ["docker-entrypoint.sh"]' \
    'CMD ["postgres"]' \
    "LABEL org.opencontainers.image.description=conveyor local postgres image (Debian postgresql $version + busybox)"
}

# The image's own start-up, for real: initialise with a password, then a password login over TCP
# (scram-sha-256) and the database POSTGRES_DB.
_check_postgres_image() {
  local name=conveyor-env-postgres-check pw out
  pw="check-$RANDOM$RANDOM"
  "$ENGINE" rm -f "$name" >/dev/null 2>&1 || true
  "$ENGINE" run -d --name "$name" -e POSTGRES_PASSWORD="$pw" -e POSTGRES_USER=check -e POSTGRES_DB=checkdb \
    "$POSTGRES_IMAGE" >>"$IMAGES_LOG" 2>&1 || fail images "$IMAGES_LOG" "$POSTGRES_IMAGE did not start"
  if ! wait_until 60 "$ENGINE" exec "$name" pg_isready -h 127.0.0.1 -U check -d checkdb; then
    "$ENGINE" logs "$name" >>"$IMAGES_LOG" 2>&1 || true
    "$ENGINE" rm -f "$name" >/dev/null 2>&1 || true
    fail images "$IMAGES_LOG" "$POSTGRES_IMAGE does not accept connections"
  fi
  out="$("$ENGINE" exec -e PGPASSWORD="$pw" "$name" psql -h 127.0.0.1 -U check -d checkdb -Atc 'select 42' 2>>"$IMAGES_LOG" || true)"
  "$ENGINE" logs "$name" >>"$IMAGES_LOG" 2>&1 || true
  "$ENGINE" rm -f "$name" >/dev/null 2>&1 || true
  [[ "$out" == 42 ]] || fail images "$IMAGES_LOG" "$POSTGRES_IMAGE: a password login over TCP to database checkdb failed"
  info "$POSTGRES_IMAGE initialises and serves (password login over TCP)"
}

setup_postgres() {
  log "postgres image"
  apt_install postgresql busybox-static tar
  [[ -x "$PG_BIN/postgres" ]] || die "$PG_BIN/postgres is missing after installing postgresql"
  if [[ "$REBUILD_IMAGES" == 1 ]] || ! _image_exists "$POSTGRES_IMAGE"; then
    local work
    make_tmp work
    info "building $POSTGRES_IMAGE"
    _build_postgres_image "$work"
    _check_postgres_image
  fi
  "$ENGINE" run --rm --user postgres "$POSTGRES_IMAGE" pg_dump --version >>"$IMAGES_LOG" 2>&1 ||
    fail images "$IMAGES_LOG" "$POSTGRES_IMAGE does not run pg_dump"
  info "$POSTGRES_IMAGE runs $("$ENGINE" run --rm "$POSTGRES_IMAGE" postgres --version 2>/dev/null | head -n1)"
  summary postgres "$POSTGRES_IMAGE"
}
