#!/usr/bin/env bash
# A private SSH test host: sshd on 127.0.0.1:2222 with its own host key and a
# generated client key, accepted for root and for the non-root user deploy.
# deploy reaches the container engine as on a real server: through group docker
# on the engine socket. It owns $STATE/deploy-root, where tests make their
# servers' folders. Sourced by up.sh; needs ENGINE, ENGINE_GROUP, COMPOSE_CMD.
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
# One authorized_keys file per user (sshd reads it as that user): $SSH_AUTH_DIR/<user>.
SSH_AUTH_DIR="$STATE/sshd-authorized-keys"
DEPLOY_USER=deploy
DEPLOY_ROOT="$STATE/deploy-root"
DEPLOY_UID=""
DEPLOY_GID=""
DEPLOY_OK="$SSHD_DIR/deploy.ok"

# ssh_as USER CMD...: runs CMD on the test host as USER with the generated key.
ssh_as() {
  local user="$1"
  shift
  ssh -i "$SSH_KEY" -p "$SSHD_PORT" \
    -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=5 \
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$SSH_KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null \
    -o LogLevel=ERROR "$user@$SSHD_HOST" "$@"
}

# ssh_test CMD...: runs CMD on the test host as root.
ssh_test() { ssh_as root "$@"; }

_both_log_in() { ssh_test true && ssh_as "$DEPLOY_USER" true; }

_sshd_keys() {
  mkdir -p "$SSHD_DIR" "$SSH_DIR" /run/sshd
  chmod 0700 "$SSHD_DIR" "$SSH_DIR"
  [[ -s "$SSHD_DIR/ssh_host_ed25519_key" ]] ||
    ssh-keygen -q -t ed25519 -N '' -C conveyor-test-host -f "$SSHD_DIR/ssh_host_ed25519_key"
  [[ -s "$SSH_KEY" ]] || ssh-keygen -q -t ed25519 -N '' -C conveyor-test-client -f "$SSH_KEY"
  chmod 0600 "$SSH_KEY" "$SSHD_DIR/ssh_host_ed25519_key"
  rm -f "$SSHD_DIR/authorized_keys"
  # Public keys only: readable by the users sshd reads them as.
  mkdir -p "$SSH_AUTH_DIR"
  chmod 0755 "$SSH_AUTH_DIR"
  local user
  for user in root "$DEPLOY_USER"; do
    cp "$SSH_KEY.pub" "$SSH_AUTH_DIR/$user"
    chmod 0644 "$SSH_AUTH_DIR/$user"
  done
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
AuthorizedKeysFile $SSH_AUTH_DIR/%u
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
_unlock_for_keys() {
  local user="$1" field
  field="$(getent shadow "$user" | cut -d: -f2 || true)"
  if [[ "$field" == '!'* ]]; then
    usermod -p '*' "$user"
    info "$user's password was locked ('!'): set to '*' (no password login, keys allowed)"
  fi
}

# Start-up files that set up a language manager slow every SSH command (and
# change which python3 Ansible finds): deploy's are Debian's plain ones.
_plain_startup() {
  local home="$1" f
  for f in .bashrc .profile .bash_profile .bash_login; do
    [[ -f "$home/$f" ]] || continue
    grep -qiE 'pyenv|conda|nvm|rbenv|asdf|virtualenv' "$home/$f" || continue
    mv "$home/$f" "$home/$f.conveyor-bak"
    if [[ -f "/etc/skel/$f" ]] && ! grep -qiE 'pyenv|conda|nvm|rbenv|asdf|virtualenv' "/etc/skel/$f"; then
      install -o "$DEPLOY_USER" -g "$DEPLOY_GID" -m 0644 "/etc/skel/$f" "$home/$f"
    fi
    info "$home/$f set up a language manager: moved to $f.conveyor-bak"
  done
}

# The user deploy: a home, bash, no password, member of group docker.
_deploy_user() {
  if ! id -u "$DEPLOY_USER" >/dev/null 2>&1; then
    local group_opt=(--user-group)
    getent group "$DEPLOY_USER" >/dev/null && group_opt=(--gid "$DEPLOY_USER")
    useradd --create-home --shell /bin/bash "${group_opt[@]}" "$DEPLOY_USER"
    rm -f "$DEPLOY_OK"
    info "created user $DEPLOY_USER"
  fi
  if ! id -nG "$DEPLOY_USER" | tr ' ' '\n' | grep -qx "$ENGINE_GROUP"; then
    usermod -aG "$ENGINE_GROUP" "$DEPLOY_USER"
    rm -f "$DEPLOY_OK"
    info "added $DEPLOY_USER to group $ENGINE_GROUP"
  fi
  _unlock_for_keys "$DEPLOY_USER"
  DEPLOY_UID="$(id -u "$DEPLOY_USER")"
  DEPLOY_GID="$(id -g "$DEPLOY_USER")"
  _plain_startup "$(getent passwd "$DEPLOY_USER" | cut -d: -f6)"
  # Tests make their servers' folders in it (as root, then chown to deploy).
  mkdir -p "$DEPLOY_ROOT"
  chown "$DEPLOY_UID:$DEPLOY_GID" "$DEPLOY_ROOT"
  chmod 0755 "$DEPLOY_ROOT"
}

# What a deploy needs on a server, checked as deploy over ssh.
_deploy_check() {
  local out
  # shellcheck disable=SC2016 # expands on the test host
  out="$(ssh_as "$DEPLOY_USER" 'set -e
    [ "$(id -u)" != 0 ] || { echo "deploy is root" >&2; exit 1; }
    echo "uid=$(id -u) groups=$(id -Gn)"
    echo "docker $(docker version --format "{{.Server.Version}}")"
    docker ps -q >/dev/null
    echo "compose $('"$COMPOSE_CMD"' version --short)"
    python3 -c 1
    echo "python3 $(command -v python3)"
    if command -v pyenv >/dev/null; then echo "pyenv is on the PATH of $(id -un)" >&2; exit 1; fi' 2>&1)" || {
    printf '%s\n' "$out" >>"$SSHD_LOG"
    fail sshd "$SSHD_LOG" "as $DEPLOY_USER over ssh: docker version, docker ps, $COMPOSE_CMD version or python3 failed"
  }
  touch "$DEPLOY_OK"
  info "as $DEPLOY_USER over ssh: $(printf '%s' "$out" | tr '\n' ' ')"
}

setup_sshd() {
  log "ssh test host"
  apt_install openssh-server openssh-client
  _deploy_user
  _sshd_keys
  _unlock_for_keys root
  local changed=0 status
  _sshd_config && changed=1
  /usr/sbin/sshd -t -f "$SSHD_CONFIG" >"$SSHD_LOG.check" 2>&1 || fail sshd "$SSHD_LOG.check" "invalid $SSHD_CONFIG"
  rm -f "$SSHD_LOG.check"
  if [[ "$changed" == 1 ]] && pid_alive "$SSHD_PIDFILE" "$SSHD_CONFIG"; then
    info "sshd config changed: restarting"
    stop_pid sshd "$SSHD_PIDFILE" "$SSHD_CONFIG" >/dev/null
  fi
  if pid_alive "$SSHD_PIDFILE" "$SSHD_CONFIG" && _both_log_in >/dev/null 2>&1; then
    status="already running (pid $(<"$SSHD_PIDFILE"))"
  else
    stop_pid sshd "$SSHD_PIDFILE" "$SSHD_CONFIG" >/dev/null
    start_bg "$SSHD_PIDFILE" "$SSHD_LOG" /usr/sbin/sshd -D -e -f "$SSHD_CONFIG" ||
      fail sshd "$SSHD_LOG" "did not start"
    wait_ready "$SSHD_PIDFILE" 15 ssh_test true || fail sshd "$SSHD_LOG" "ssh root@$SSHD_HOST -p $SSHD_PORT with $SSH_KEY fails"
    ssh_as "$DEPLOY_USER" true >>"$SSHD_LOG" 2>&1 || fail sshd "$SSHD_LOG" "ssh $DEPLOY_USER@$SSHD_HOST -p $SSHD_PORT with $SSH_KEY fails"
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
  # Again after the engine's service or sshd restarted (the socket is new then).
  if [[ "$SSHD_STARTED" == 1 || ! "$DEPLOY_OK" -nt "$SSHD_PIDFILE" ]] ||
    [[ -f "$PODMAN_PIDFILE" && ! "$DEPLOY_OK" -nt "$PODMAN_PIDFILE" ]]; then
    _deploy_check
  fi
  info "sshd $SSHD_HOST:$SSHD_PORT: $status"
  summary sshd "$SSHD_HOST:$SSHD_PORT $status; users root and $DEPLOY_USER (uid $DEPLOY_UID, group $ENGINE_GROUP)"
  summary deploy-root "$DEPLOY_ROOT (owner $DEPLOY_USER, 0755)"
}
