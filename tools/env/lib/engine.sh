#!/usr/bin/env bash
# Container engine: a real Docker engine when one answers, otherwise Podman
# with its Docker-compatible API on /run/podman/podman.sock, reachable by the
# members of group docker (as on a Docker host).
# Sets ENGINE (podman|docker), ENGINE_SOCK and COMPOSE_CMD. Sourced by up.sh;
# needs registry.sh (the registry settings are written before the service starts).
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file

ENGINE=""
ENGINE_SOCK=""
COMPOSE_CMD=""
# Members of this group use the engine's socket without being root.
ENGINE_GROUP=docker
CONTAINERS_CONF=/etc/containers/containers.conf
PODMAN_PIDFILE="$STATE/podman.pid"
PODMAN_LOG="$STATE/podman.log"

# True when `docker` talks to a real dockerd (not to Podman's compatible API).
real_docker_answers() {
  command -v docker >/dev/null 2>&1 || return 1
  local components
  components="$(timeout 10 docker version --format '{{range .Server.Components}}{{.Name}};{{end}}' 2>/dev/null)" || return 1
  [[ -n "$components" && "$components" != *Podman* ]] || return 1
  timeout 10 docker info >/dev/null 2>&1
}

# limit_for HARD_LIMIT: 1024, or the hard limit when it is lower.
_limit_for() {
  local hard="$1"
  if [[ "$hard" =~ ^[0-9]+$ ]] && ((hard < 1024)); then
    echo "$hard"
  else
    echo 1024
  fi
}

# Writes /etc/containers/containers.conf; returns 0 when it changed.
_write_containers_conf() {
  local nofile nproc cgroup_line="" want
  nofile="$(_limit_for "$(ulimit -Hn)")"
  nproc="$(_limit_for "$(ulimit -Hu)")"
  # Without systemd as init, Podman must manage cgroups itself.
  [[ -d /run/systemd/system ]] || cgroup_line='cgroup_manager = "cgroupfs"'
  want="$(
    cat <<CONF
# Managed by conveyor tools/env/up.sh (rewritten when it differs).
# crun fails on hybrid cgroups here; Podman's default ulimits (1048576) are
# above this machine's hard limits, so containers could not start.
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]

[network]
# netavark + aardvark-dns: containers of one compose project resolve each other by name.
network_backend = "netavark"

[engine]
runtime = "runc"
events_logger = "file"
${cgroup_line}
CONF
  )"
  if [[ -f "$CONTAINERS_CONF" && "$(<"$CONTAINERS_CONF")" == "$want" ]]; then
    return 1
  fi
  mkdir -p "$(dirname "$CONTAINERS_CONF")"
  if [[ -f "$CONTAINERS_CONF" ]] && ! grep -q 'Managed by conveyor' "$CONTAINERS_CONF"; then
    cp -n "$CONTAINERS_CONF" "$CONTAINERS_CONF.conveyor-bak"
    info "saved the previous $CONTAINERS_CONF as $CONTAINERS_CONF.conveyor-bak"
  fi
  printf '%s\n' "$want" >"$CONTAINERS_CONF"
  info "wrote $CONTAINERS_CONF (runtime runc, ulimits nofile=$nofile nproc=$nproc)"
  return 0
}

podman_api_ping() {
  [[ "$(curl -s --max-time 3 --unix-socket "$PODMAN_SOCK" http://d/_ping 2>/dev/null || true)" == OK ]]
}

podman_api_ok() {
  podman_api_ping || return 1
  if command -v docker >/dev/null 2>&1; then
    DOCKER_HOST="$PODMAN_DOCKER_HOST" timeout 10 docker version >/dev/null 2>&1 || return 1
  fi
}

_engine_group() {
  getent group "$ENGINE_GROUP" >/dev/null && return 0
  groupadd --system "$ENGINE_GROUP"
  info "created group $ENGINE_GROUP (its members use the engine socket)"
}

# The service creates its socket anew on each start: give it to group docker again.
_podman_socket_access() {
  chgrp "$ENGINE_GROUP" "$PODMAN_SOCK_DIR" "$PODMAN_SOCK"
  chmod 0750 "$PODMAN_SOCK_DIR"
  chmod 0660 "$PODMAN_SOCK"
}

_start_podman_service() {
  mkdir -p "$PODMAN_SOCK_DIR"
  rm -f "$PODMAN_SOCK"
  start_bg "$PODMAN_PIDFILE" "$PODMAN_LOG" podman system service --time=0 "unix://$PODMAN_SOCK" ||
    fail podman "$PODMAN_LOG" "the API service did not start"
  wait_ready "$PODMAN_PIDFILE" 30 podman_api_ok ||
    fail podman "$PODMAN_LOG" "the API at $PODMAN_SOCK does not answer (DOCKER_HOST=$PODMAN_DOCKER_HOST docker version)"
  _podman_socket_access
}

# The service reads containers.conf and registries.conf.d only when it starts:
# true when our service runs and one of FILE... changed after it started.
_podman_service_stale() {
  local f
  pid_alive "$PODMAN_PIDFILE" "system service" || return 1
  for f in "$@"; do
    [[ -f "$f" && "$f" -nt "$PODMAN_PIDFILE" ]] && return 0
  done
  return 1
}

# restart_podman_service REASON: restarts the API service up.sh started.
restart_podman_service() {
  info "$1: restarting the Podman API service"
  stop_pid podman "$PODMAN_PIDFILE" "system service" >/dev/null
  _start_podman_service
}

# True when the API service answering on the socket is the one up.sh started.
podman_service_is_ours() { pid_alive "$PODMAN_PIDFILE" "system service"; }

setup_engine() {
  log "container engine"
  if real_docker_answers; then
    ENGINE=docker
    ENGINE_SOCK=/var/run/docker.sock
    info "a Docker engine answers: using docker"
    _engine_group
    if docker compose version >/dev/null 2>&1; then
      COMPOSE_CMD="docker compose"
    else
      apt_install docker-compose
      COMPOSE_CMD="docker-compose"
    fi
    summary engine "docker ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')), compose: $COMPOSE_CMD"
    return 0
  fi

  ENGINE=podman
  ENGINE_SOCK="$PODMAN_SOCK"
  COMPOSE_CMD="docker-compose"
  apt_install podman runc netavark aardvark-dns iptables catatonit uidmap slirp4netns docker-compose curl
  _engine_group
  _write_containers_conf || true
  # Before the service starts: it reads the registry settings only then.
  write_registries_conf || true

  if _podman_service_stale "$CONTAINERS_CONF" "$REGISTRIES_CONF"; then
    info "$CONTAINERS_CONF or $REGISTRIES_CONF changed after the Podman API service started: restarting it"
    stop_pid podman "$PODMAN_PIDFILE" "system service" >/dev/null
  fi

  local status
  if podman_api_ok; then
    if podman_service_is_ours; then
      status="already running (pid $(<"$PODMAN_PIDFILE"))"
    else
      status="already answering (not started by up.sh)"
    fi
    _podman_socket_access
  else
    _start_podman_service
    status="started (pid $(<"$PODMAN_PIDFILE"))"
  fi
  info "podman API: $status"
  info "socket $PODMAN_SOCK: group $ENGINE_GROUP, mode 0660"
  summary engine "podman $(podman version --format '{{.Client.Version}}' 2>/dev/null) API $PODMAN_SOCK: $status; compose: $COMPOSE_CMD"
}
