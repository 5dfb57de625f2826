#!/usr/bin/env bash
# A private SSH test host: sshd on 127.0.0.1:2222 for root, with its own host
# key and a generated client key. Sourced by up.sh; needs ENGINE, COMPOSE_CMD.
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file

SSHD_PORT="${CONVEYOR_ENV_SSH_PORT:-2222}"
SSHD_HOST=127.0.0.1
SSHD_DIR="$STATE/sshd"
SSH_DIR="$STATE/ssh"
SSH_KEY="$SSH_DIR/id_ed25519"
SSH_KNOWN_HOSTS="$SSH_DIR/known_hosts"
SSHD_CONFIG="$SSHD_DIR/sshd_config"
SSHD_PIDFILE="$SSHD_DIR/sshd.pid"
SSHD_LOG="$SSHD_DIR/sshd.log"
SSHD_STARTED=0

# ssh_test CMD...: runs CMD on the test host with the generated key.
ssh_test() {
  ssh -i "$SSH_KEY" -p "$SSHD_PORT" \
    -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=5 \
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$SSH_KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null \
    -o LogLevel=ERROR "root@$SSHD_HOST" "$@"
}

_sshd_keys() {
  mkdir -p "$SSHD_DIR" "$SSH_DIR" /run/sshd
  chmod 0700 "$SSHD_DIR" "$SSH_DIR"
  [[ -s "$SSHD_DIR/ssh_host_ed25519_key" ]] ||
    ssh-keygen -q -t ed25519 -N '' -C conveyor-test-host -f "$SSHD_DIR/ssh_host_ed25519_key"
  [[ -s "$SSH_KEY" ]] || ssh-keygen -q -t ed25519 -N '' -C conveyor-test-client -f "$SSH_KEY"
  chmod 0600 "$SSH_KEY" "$SSHD_DIR/ssh_host_ed25519_key"
  cp "$SSH_KEY.pub" "$SSHD_DIR/authorized_keys"
  chmod 0600 "$SSHD_DIR/authorized_keys"
  printf '[%s]:%s %s\n' "$SSHD_HOST" "$SSHD_PORT" "$(cut -d' ' -f1,2 "$SSHD_DIR/ssh_host_ed25519_key.pub")" >"$SSH_KNOWN_HOSTS"
}

# Writes the sshd config; returns 0 when it changed.
_sshd_config() {
  local want setenv=""
  [[ "$ENGINE" == podman ]] && setenv="SetEnv DOCKER_HOST=$PODMAN_DOCKER_HOST"
  want="$(
    cat <<CONF
# Managed by conveyor tools/env/up.sh: a private test sshd (not the system one).
Port $SSHD_PORT
ListenAddress $SSHD_HOST
HostKey $SSHD_DIR/ssh_host_ed25519_key
PidFile $SSHD_PIDFILE
AuthorizedKeysFile $SSHD_DIR/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
# The state folder lives under /var/tmp (world-writable), which StrictModes refuses.
StrictModes no
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
$setenv
CONF
  )"
  [[ -f "$SSHD_CONFIG" && "$(<"$SSHD_CONFIG")" == "$want" ]] && return 1
  printf '%s\n' "$want" >"$SSHD_CONFIG"
  return 0
}

# With UsePAM no, sshd refuses keys for a locked account ("!" password field).
_unlock_root_for_keys() {
  local field
  field="$(getent shadow root | cut -d: -f2 || true)"
  if [[ "$field" == '!'* ]]; then
    usermod -p '*' root
    info "root's password was locked ('!'): set to '*' (no password login, keys allowed)"
  fi
}

setup_sshd() {
  log "ssh test host"
  apt_install openssh-server openssh-client
  _sshd_keys
  _unlock_root_for_keys
  local changed=0 status
  _sshd_config && changed=1
  /usr/sbin/sshd -t -f "$SSHD_CONFIG" >"$SSHD_LOG.check" 2>&1 || fail sshd "$SSHD_LOG.check" "invalid $SSHD_CONFIG"
  rm -f "$SSHD_LOG.check"
  if [[ "$changed" == 1 ]] && pid_alive "$SSHD_PIDFILE" "$SSHD_CONFIG"; then
    info "sshd config changed: restarting"
    stop_pid sshd "$SSHD_PIDFILE" "$SSHD_CONFIG" >/dev/null
  fi
  if pid_alive "$SSHD_PIDFILE" "$SSHD_CONFIG" && ssh_test true >/dev/null 2>&1; then
    status="already running (pid $(<"$SSHD_PIDFILE"))"
  else
    stop_pid sshd "$SSHD_PIDFILE" "$SSHD_CONFIG" >/dev/null
    start_bg "$SSHD_PIDFILE" "$SSHD_LOG" /usr/sbin/sshd -D -e -f "$SSHD_CONFIG" ||
      fail sshd "$SSHD_LOG" "did not start"
    wait_ready "$SSHD_PIDFILE" 15 ssh_test true || fail sshd "$SSHD_LOG" "ssh root@$SSHD_HOST -p $SSHD_PORT with $SSH_KEY fails"
    local out
    # shellcheck disable=SC2016 # $DOCKER_HOST expands on the test host
    out="$(ssh_test 'echo "DOCKER_HOST=${DOCKER_HOST:-}"; '"$COMPOSE_CMD"' version --short' 2>&1)" ||
      {
        printf '%s\n' "$out" >>"$SSHD_LOG"
        fail sshd "$SSHD_LOG" "'$COMPOSE_CMD version' over ssh failed"
      }
    if [[ "$ENGINE" == podman && "$out" != *"DOCKER_HOST=$PODMAN_DOCKER_HOST"* ]]; then
      fail sshd "$SSHD_LOG" "ssh sessions do not get DOCKER_HOST=$PODMAN_DOCKER_HOST"
    fi
    SSHD_STARTED=1
    status="started (pid $(<"$SSHD_PIDFILE"))"
    info "over ssh: $(printf '%s' "$out" | tr '\n' ' ')"
  fi
  info "sshd $SSHD_HOST:$SSHD_PORT: $status"
  summary sshd "$SSHD_HOST:$SSHD_PORT $status"
}
