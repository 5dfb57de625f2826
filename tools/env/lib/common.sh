#!/usr/bin/env bash
# Shared helpers for tools/env/*.sh: logging, apt installs, background processes.
# Sourced, not executed.
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file

CONVEYOR_ENV_DIR="${CONVEYOR_ENV_DIR:-/var/tmp/conveyor-env}"
[[ "$CONVEYOR_ENV_DIR" == /* ]] || CONVEYOR_ENV_DIR="$PWD/$CONVEYOR_ENV_DIR"
STATE="$CONVEYOR_ENV_DIR"
PODMAN_SOCK_DIR=/run/podman
PODMAN_SOCK="$PODMAN_SOCK_DIR/podman.sock"
PODMAN_DOCKER_HOST="unix://$PODMAN_SOCK"

# Summary lines printed at the end of up.sh.
SUMMARY=()

log() { printf '==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf 'WARN: %s\n' "$*" >&2; }
die() {
  printf 'ERROR: %s\n' "$*" >&2
  exit 1
}
# summary LABEL TEXT: one line of the summary printed at the end of up.sh.
summary() { SUMMARY+=("$(printf '%-14s %s' "$1" "$2")"); }

# Print the last lines of a log file to stderr (used when a component fails).
log_tail() {
  local file="$1"
  if [[ -s "$file" ]]; then
    printf -- '--- last lines of %s ---\n' "$file" >&2
    tail -n 30 "$file" >&2
    printf -- '--- end of %s ---\n' "$file" >&2
  fi
}

# fail COMPONENT LOGFILE MESSAGE: report a component failure with its log tail.
fail() {
  local component="$1" logfile="$2"
  shift 2
  printf 'ERROR: %s: %s\n' "$component" "$*" >&2
  log_tail "$logfile"
  exit 1
}

# ---------------------------------------------------------------------------
# Cleanup on exit (temporary folders, the apt service-start blocker)

TMP_DIRS=()
_on_exit() {
  _remove_policy_rc
  local d
  for d in "${TMP_DIRS[@]}"; do
    [[ -n "$d" && -d "$d" ]] && rm -rf "$d"
  done
  return 0
}
trap _on_exit EXIT

# make_tmp VAR: creates a temporary folder removed on exit, stores it in VAR.
make_tmp() {
  local -n _out="$1"
  _out="$(mktemp -d "${TMPDIR:-/tmp}/conveyor-env.XXXXXX")"
  TMP_DIRS+=("$_out")
}

# ---------------------------------------------------------------------------
# Packages

APT_UPDATED=0
POLICY_RC_CREATED=0

_remove_policy_rc() {
  if [[ "$POLICY_RC_CREATED" == 1 ]]; then
    rm -f /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=0
  fi
}

# Keep package postinst scripts from starting system services (nginx on :80,
# sshd on :22, docker-registry on :5000, prometheus on :9090...): we run our own.
_block_service_starts() {
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# created by conveyor tools/env (removed after install)\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=1
  fi
}

# apt_install PKG...: installs the packages that are not installed yet.
apt_install() {
  local missing=() p installed
  # One dpkg-query for all packages: "name=status " each.
  installed=" $(dpkg-query -W -f='${Package}=${db:Status-Status} ' "$@" 2>/dev/null || true)"
  for p in "$@"; do
    [[ "$installed" == *" $p=installed "* ]] || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  [[ "$(id -u)" == 0 ]] || die "installing packages needs root (missing: ${missing[*]})"
  _block_service_starts
  local aptlog="$STATE/apt.log"
  if [[ "$APT_UPDATED" == 0 ]]; then
    info "apt-get update"
    apt-get -o DPkg::Lock::Timeout=300 update >>"$aptlog" 2>&1 || fail apt "$aptlog" "apt-get update failed"
    APT_UPDATED=1
  fi
  info "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}" >>"$aptlog" 2>&1 ||
    fail apt "$aptlog" "apt-get install failed: ${missing[*]}"
  _remove_policy_rc
}

# ---------------------------------------------------------------------------
# Background processes

# _running PID: the process exists and is not a zombie.
_running() {
  kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null || true)"
  [[ -n "$stat" && "${stat##*) }" != Z* ]]
}

# pid_alive PIDFILE [PATTERN]: true if the pid in PIDFILE runs (and its command
# line contains PATTERN, to not trust a recycled pid).
pid_alive() {
  local pidfile="$1" pattern="${2:-}" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  _running "$pid" || return 1
  if [[ -n "$pattern" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern" || return 1
  fi
}

# start_bg PIDFILE LOGFILE CMD...: starts CMD detached (own session, survives
# this script), output appended to LOGFILE, its pid written to PIDFILE.
start_bg() {
  local pidfile="$1" logfile="$2"
  shift 2
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
  rm -f "$pidfile"
  printf '\n--- %s start: %s\n' "$(date -Is)" "$*" >>"$logfile"
  # shellcheck disable=SC2016 # $$ / $@ are for the inner shell
  # 9>&-: the child must not inherit up.sh's lock (it would hold it forever).
  setsid nohup bash -c 'cd /; echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >>"$logfile" 2>&1 </dev/null 9>&- &
  disown || true
  local _
  for _ in {1..50}; do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.1
  done
  return 1
}

# stop_pid NAME PIDFILE [PATTERN]: stops the process in PIDFILE (TERM, then KILL).
stop_pid() {
  local name="$1" pidfile="$2" pattern="${3:-}" pid _
  if ! pid_alive "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    info "$name: nothing to stop (no process of ours running)"
    return 0
  fi
  pid="$(<"$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in {1..50}; do
    _running "$pid" || break
    sleep 0.2
  done
  if _running "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  info "$name: stopped (pid $pid)"
}

# child_pids PID: the pids whose parent is PID.
child_pids() {
  local stat rest ppid
  for stat in /proc/[0-9]*/stat; do
    rest="$(cat "$stat" 2>/dev/null)" || continue
    rest="${rest##*) }"
    # "STATE PPID ...": field 2 after the command name is the parent pid.
    read -r _ ppid _ <<<"$rest"
    if [[ "$ppid" == "$1" ]]; then
      stat="${stat#/proc/}"
      echo "${stat%/stat}"
    fi
  done
}

# wait_until SECONDS CMD...: retries CMD every 0.25 s until it succeeds.
wait_until() {
  local timeout="$1" deadline
  shift
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.25
  done
}

# wait_ready PIDFILE SECONDS CMD...: like wait_until, but gives up at once when
# the process in PIDFILE has exited (returns 2 then).
wait_ready() {
  local pidfile="$1" timeout="$2" deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    pid_alive "$pidfile" || return 2
    ((SECONDS < deadline)) || return 1
    sleep 0.25
  done
}

# http_code URL [CURL ARGS...]: prints the HTTP status (000 when nothing answers).
http_code() {
  local url="$1"
  shift
  curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$@" "$url" || true
}

http_is() {
  local want="$1"
  shift
  [[ "$(http_code "$@")" == "$want" ]]
}
