#!/usr/bin/env bash
# Stops what tools/env/up.sh started (registries, sshd, the Podman API
# service), by their pid files. Leaves packages, images, keys and registry data.
# Idempotent.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/common.sh
. "$HERE/lib/common.sh"

if [[ ! -d "$STATE" ]]; then
  echo "Nothing to stop: $STATE does not exist."
  exit 0
fi

exec 9>"$STATE/up.lock"
flock -w 120 9 || die "an up.sh is running (it holds $STATE/up.lock): try again when it ends"

log "stopping the Conveyor test environment ($STATE)"
stop_pid registry "$STATE/registry/registry.pid" "$STATE/registry/config.yml"
stop_pid auth-registry "$STATE/registry-auth/registry.pid" "$STATE/registry-auth/config.yml"
stop_pid faults-registry "$STATE/registry-faults/registry.pid" "$STATE/registry-faults/config.yml"
# Open ssh sessions of the test sshd end with it.
if pid_alive "$STATE/sshd/sshd.pid" "$STATE/sshd/sshd_config"; then
  for session in $(child_pids "$(<"$STATE/sshd/sshd.pid")"); do
    kill -TERM "$session" 2>/dev/null || true
  done
fi
stop_pid sshd "$STATE/sshd/sshd.pid" "$STATE/sshd/sshd_config"
stop_pid "podman API $PODMAN_SOCK" "$STATE/podman.pid" "system service"
# Running containers are not stopped: list them with `podman ps`.
start_cmd="bash $HERE/up.sh"
[[ "$STATE" == /var/tmp/conveyor-env ]] || start_cmd="CONVEYOR_ENV_DIR=$STATE $start_cmd"
echo "Stopped. Start again: $start_cmd"
