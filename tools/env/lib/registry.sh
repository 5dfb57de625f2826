#!/usr/bin/env bash
# Two local registries (CNCF distribution 2.8, Debian's docker-registry):
#   127.0.0.1:5055  no auth      ($STATE/registry)
#   127.0.0.1:5056  htpasswd     ($STATE/registry-auth, user conveyor)
# and a readiness check: the engine's API pulls from the plain-HTTP registry.
# Sourced by up.sh; needs engine.sh (ENGINE, ENGINE_SOCK).
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file

REGISTRY_PORT="${CONVEYOR_ENV_REGISTRY_PORT:-5055}"
AUTH_REGISTRY_PORT="${CONVEYOR_ENV_AUTH_REGISTRY_PORT:-5056}"
# The fault matrix stops and kills a registry mid-pull: one of its own, so suites running beside it keep theirs.
FAULTS_REGISTRY_PORT="${CONVEYOR_ENV_FAULTS_REGISTRY_PORT:-5057}"
FAULTS_REGISTRY_DIR="$STATE/registry-faults"
REGISTRY_DIR="$STATE/registry"
AUTH_REGISTRY_DIR="$STATE/registry-auth"
AUTH_REGISTRY_USER=conveyor
AUTH_REGISTRY_PASSWORD_FILE="$AUTH_REGISTRY_DIR/password"
REGISTRIES_CONF=/etc/containers/registries.conf.d/conveyor-local.conf
if [[ "$REGISTRY_PORT:$AUTH_REGISTRY_PORT:$FAULTS_REGISTRY_PORT" != 5055:5056:5057 ]]; then
  REGISTRIES_CONF="/etc/containers/registries.conf.d/conveyor-local-$REGISTRY_PORT-$AUTH_REGISTRY_PORT-$FAULTS_REGISTRY_PORT.conf"
fi

_random_hex() { od -An -tx1 -N"${1:-16}" /dev/urandom | tr -d ' \n'; }

# _registry_config DIR PORT [HTPASSWD]: writes DIR/config.yml once.
_registry_config() {
  local dir="$1" port="$2" htpasswd="${3:-}"
  mkdir -p "$dir/storage"
  [[ -s "$dir/config.yml" ]] && return 0
  {
    cat <<YAML
version: 0.1
log:
  level: info
  fields:
    service: conveyor-registry-$port
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: $(_random_hex 16)
YAML
    if [[ -n "$htpasswd" ]]; then
      cat <<YAML
auth:
  htpasswd:
    realm: conveyor-test-registry
    path: $htpasswd
YAML
    fi
  } >"$dir/config.yml"
}

_auth_registry_credentials() {
  mkdir -p "$AUTH_REGISTRY_DIR"
  chmod 0700 "$AUTH_REGISTRY_DIR"
  if [[ ! -s "$AUTH_REGISTRY_PASSWORD_FILE" ]]; then
    (
      umask 077
      printf '%s' "$(_random_hex 16)" >"$AUTH_REGISTRY_PASSWORD_FILE"
    )
    rm -f "$AUTH_REGISTRY_DIR/htpasswd"
    info "generated a password for $AUTH_REGISTRY_USER in $AUTH_REGISTRY_PASSWORD_FILE"
  fi
  chmod 0600 "$AUTH_REGISTRY_PASSWORD_FILE"
  if [[ ! -s "$AUTH_REGISTRY_DIR/htpasswd" ]]; then
    # -i reads the password from stdin: it never appears in argv.
    htpasswd -iBc "$AUTH_REGISTRY_DIR/htpasswd" "$AUTH_REGISTRY_USER" <"$AUTH_REGISTRY_PASSWORD_FILE" 2>/dev/null ||
      die "htpasswd failed for $AUTH_REGISTRY_DIR/htpasswd"
    chmod 0600 "$AUTH_REGISTRY_DIR/htpasswd"
  fi
}

_registry_open_ok() { http_is 200 "http://127.0.0.1:$REGISTRY_PORT/v2/"; }
_registry_faults_ok() { http_is 200 "http://127.0.0.1:$FAULTS_REGISTRY_PORT/v2/"; }

_registry_auth_ok() {
  http_is 401 "http://127.0.0.1:$AUTH_REGISTRY_PORT/v2/" || return 1
  # The credentials go to curl through a config on stdin, not argv.
  [[ "$(printf 'user = "%s:%s"\n' "$AUTH_REGISTRY_USER" "$(<"$AUTH_REGISTRY_PASSWORD_FILE")" |
    curl -s -o /dev/null -w '%{http_code}' --max-time 3 -K - "http://127.0.0.1:$AUTH_REGISTRY_PORT/v2/" || true)" == 200 ]]
}

# _ensure_registry LABEL DIR PORT CHECKFN
_ensure_registry() {
  local label="$1" dir="$2" port="$3" check="$4" status
  local pidfile="$dir/registry.pid" logfile="$dir/registry.log"
  if "$check"; then
    if pid_alive "$pidfile" "$dir/config.yml"; then
      status="already running (pid $(<"$pidfile"))"
    else
      status="already answering (not started by up.sh)"
    fi
  else
    stop_pid "$label" "$pidfile" "$dir/config.yml" >/dev/null
    if [[ "$(http_code "http://127.0.0.1:$port/v2/")" != 000 ]]; then
      fail "$label" "$logfile" "127.0.0.1:$port is taken by another server that does not answer as expected" \
        "(a registry of another CONVEYOR_ENV_DIR? stop it with its down.sh)"
    fi
    start_bg "$pidfile" "$logfile" docker-registry serve "$dir/config.yml" ||
      fail "$label" "$logfile" "did not start"
    wait_ready "$pidfile" 20 "$check" || {
      stop_pid "$label" "$pidfile" "$dir/config.yml" >/dev/null
      fail "$label" "$logfile" "does not answer on http://127.0.0.1:$port/v2/"
    }
    status="started (pid $(<"$pidfile"))"
  fi
  info "$label 127.0.0.1:$port: $status"
  summary "$label" "http://127.0.0.1:$port/v2/ $status"
}

# Writes the insecure-registry settings; returns 0 when the file changed.
write_registries_conf() {
  local want
  want="$(
    cat <<CONF
# Managed by conveyor tools/env/up.sh: the local test registries speak plain HTTP.
[[registry]]
location = "localhost:$REGISTRY_PORT"
insecure = true

[[registry]]
location = "127.0.0.1:$REGISTRY_PORT"
insecure = true

[[registry]]
location = "localhost:$AUTH_REGISTRY_PORT"
insecure = true

[[registry]]
location = "127.0.0.1:$AUTH_REGISTRY_PORT"
insecure = true

[[registry]]
location = "localhost:$FAULTS_REGISTRY_PORT"
insecure = true

[[registry]]
location = "127.0.0.1:$FAULTS_REGISTRY_PORT"
insecure = true
CONF
  )"
  [[ -f "$REGISTRIES_CONF" && "$(<"$REGISTRIES_CONF")" == "$want" ]] && return 1
  mkdir -p "$(dirname "$REGISTRIES_CONF")"
  printf '%s\n' "$want" >"$REGISTRIES_CONF"
  info "wrote $REGISTRIES_CONF (ports $REGISTRY_PORT, $AUTH_REGISTRY_PORT and $FAULTS_REGISTRY_PORT insecure)"
  return 0
}

# ---------------------------------------------------------------------------
# Readiness: the engine's API (what docker, docker-compose and Ansible use)
# pulls from the plain-HTTP registry, by both of its names. A tiny image (one
# file) is pushed once with the engine's command line.

PROBE_REPO=conveyor/env-probe
PROBE_TAG=1
PULL_LOG="$STATE/engine-pull.log"

_probe_in_registry() {
  http_is 200 "http://127.0.0.1:$REGISTRY_PORT/v2/$PROBE_REPO/manifests/$PROBE_TAG" -I \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json'
}

_push_probe() {
  local work ref="localhost:$REGISTRY_PORT/$PROBE_REPO:$PROBE_TAG"
  make_tmp work
  mkdir -p "$work/rootfs"
  printf 'conveyor env probe\n' >"$work/rootfs/probe"
  tar --numeric-owner --owner=0 --group=0 -C "$work/rootfs" -cf "$work/probe.tar" .
  {
    "$ENGINE" import "$work/probe.tar" "$ref" && "$ENGINE" push "$ref"
  } >>"$PULL_LOG" 2>&1 || fail registry "$PULL_LOG" "could not push the probe image $ref with $ENGINE"
  "$ENGINE" rmi "$ref" >/dev/null 2>&1 || true
  info "pushed the probe image $ref"
}

_api() { curl -s --max-time 60 --unix-socket "$ENGINE_SOCK" "$@"; }

# _api_pulls REF: removes REF from the engine, pulls it through the API and
# checks that it is there (a failed pull can still answer 200: the error is in
# the streamed body).
_api_pulls() {
  local ref="$1" out
  _api -X DELETE "http://d/images/$ref?force=true" >/dev/null 2>&1 || true
  out="$(_api -X POST "http://d/images/create?fromImage=${ref%:*}&tag=${ref##*:}" 2>&1 || true)"
  printf '%s pull %s through %s: %s\n' "$(date -Is)" "$ref" "$ENGINE_SOCK" "$out" >>"$PULL_LOG"
  [[ "$out" != *'"error'* ]] || return 1
  [[ "$(http_code "http://d/images/$ref/json" --unix-socket "$ENGINE_SOCK")" == 200 ]]
}

_api_pulls_all() {
  _api_pulls "localhost:$REGISTRY_PORT/$PROBE_REPO:$PROBE_TAG" &&
    _api_pulls "127.0.0.1:$REGISTRY_PORT/$PROBE_REPO:$PROBE_TAG"
}

check_engine_pulls() {
  _probe_in_registry || _push_probe
  local how="ok"
  if ! _api_pulls_all; then
    if [[ "$ENGINE" == podman ]] && podman_service_is_ours; then
      restart_podman_service "the API refuses the plain-HTTP registry (settings read before $REGISTRIES_CONF was written?)"
      _api_pulls_all || fail registry "$PULL_LOG" "the Podman API does not pull from 127.0.0.1:$REGISTRY_PORT even after a restart"
      how="ok after restarting the API service"
    else
      fail registry "$PULL_LOG" "the engine API at $ENGINE_SOCK does not pull from the plain-HTTP registry 127.0.0.1:$REGISTRY_PORT;" \
        "it was not started by up.sh: restart it so that it reads $REGISTRIES_CONF"
    fi
  fi
  info "pull through the API ($ENGINE_SOCK) of localhost:$REGISTRY_PORT and 127.0.0.1:$REGISTRY_PORT: $how"
}

setup_registries() {
  log "registries"
  apt_install docker-registry apache2-utils curl
  write_registries_conf || true
  _registry_config "$REGISTRY_DIR" "$REGISTRY_PORT"
  _auth_registry_credentials
  _registry_config "$AUTH_REGISTRY_DIR" "$AUTH_REGISTRY_PORT" "$AUTH_REGISTRY_DIR/htpasswd"
  _ensure_registry registry "$REGISTRY_DIR" "$REGISTRY_PORT" _registry_open_ok
  _ensure_registry auth-registry "$AUTH_REGISTRY_DIR" "$AUTH_REGISTRY_PORT" _registry_auth_ok
  _registry_config "$FAULTS_REGISTRY_DIR" "$FAULTS_REGISTRY_PORT"
  _ensure_registry faults-registry "$FAULTS_REGISTRY_DIR" "$FAULTS_REGISTRY_PORT" _registry_faults_ok
  check_engine_pulls
}
