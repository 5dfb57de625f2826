#!/usr/bin/env bash
# Installs and starts Conveyor's test/demo environment on Debian 12 (as root):
# container engine (Podman + Docker API, or a real Docker), two local
# registries, local base images, an SSH test host (users root and deploy),
# Ansible and test tools.
# Idempotent: what already runs or exists is left as it is.
#
#   bash tools/env/up.sh [--rebuild]     --rebuild: rebuild the base images
#   bash tools/env/down.sh               stops what up.sh started
#
# State folder: ${CONVEYOR_ENV_DIR:-/var/tmp/conveyor-env} (env.sh, logs, keys, pid files).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/common.sh
. "$HERE/lib/common.sh"
# shellcheck source=lib/engine.sh
. "$HERE/lib/engine.sh"
# shellcheck source=lib/registry.sh
. "$HERE/lib/registry.sh"
# shellcheck source=lib/images.sh
. "$HERE/lib/images.sh"
# shellcheck source=lib/prometheus.sh
. "$HERE/lib/prometheus.sh"
# shellcheck source=lib/edge.sh
. "$HERE/lib/edge.sh"
# shellcheck source=lib/postgres.sh
. "$HERE/lib/postgres.sh"
# shellcheck source=lib/sshd.sh
. "$HERE/lib/sshd.sh"
# shellcheck source=lib/ansible.sh
. "$HERE/lib/ansible.sh"
# shellcheck source=lib/tools.sh
. "$HERE/lib/tools.sh"
# shellcheck source=lib/envfile.sh
. "$HERE/lib/envfile.sh"

usage() { sed -n '2,11s/^# \{0,1\}//p' "$0"; }

for arg in "$@"; do
  case "$arg" in
  --rebuild) REBUILD_IMAGES=1 ;;
  -h | --help)
    usage
    exit 0
    ;;
  *)
    usage >&2
    die "unknown argument: $arg"
    ;;
  esac
done

[[ "$(id -u)" == 0 ]] || die "run as root (it installs packages and starts services)"
command -v apt-get >/dev/null || die "needs a Debian machine (apt-get)"

START=$SECONDS
mkdir -p "$STATE"
chmod 0755 "$STATE"

# One up.sh at a time (tests may call it concurrently).
exec 9>"$STATE/up.lock"
if ! flock -n 9; then
  log "waiting for another up.sh to finish ($STATE/up.lock)"
  flock -w 600 9 || die "another up.sh still holds $STATE/up.lock"
fi

# Install every package in one apt transaction (the steps below then find them).
if real_docker_answers; then
  engine_packages=()
else
  engine_packages=(podman runc netavark aardvark-dns iptables catatonit uidmap slirp4netns docker-compose)
fi
log "packages"
apt_install "${engine_packages[@]}" docker-registry apache2-utils busybox-static nginx tar \
  openssh-server openssh-client ansible-core ansible-lint yamllint "${EXTRA_PACKAGES[@]}"
info "all installed"

setup_engine
setup_registries
setup_images
setup_prometheus
setup_edge
setup_postgres
setup_sshd
setup_ansible
setup_tools
write_env_file

printf '\nConveyor test environment is up (%ss). State: %s\n' "$((SECONDS - START))" "$STATE"
for line in "${SUMMARY[@]}"; do
  printf '  %s\n' "$line"
done
stop_cmd="bash $HERE/down.sh"
[[ "$STATE" == /var/tmp/conveyor-env ]] || stop_cmd="CONVEYOR_ENV_DIR=$STATE $stop_cmd"
cat <<TXT
  registry login: user $AUTH_REGISTRY_USER, password in $AUTH_REGISTRY_PASSWORD_FILE
  ssh:            ssh -i $SSH_KEY -o UserKnownHostsFile=$SSH_KNOWN_HOSTS -p $SSHD_PORT $DEPLOY_USER@$SSHD_HOST   (or root@)
Use it:   source $ENV_FILE
Logs:     $STATE/*.log, $STATE/*/*.log
Stop it:  $stop_cmd   (stops the services; keeps packages, images and data)
TXT
