#!/usr/bin/env bash
# Writes $STATE/env.sh for scripts and tests to `source`. Sourced by up.sh.
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file

ENV_FILE="$STATE/env.sh"

# _export NAME VALUE: prints a single-quoted export line.
_export() {
  local value="${2//\'/\'\\\'\'}"
  printf "export %s='%s'\n" "$1" "$value"
}

write_env_file() {
  local tmp="$ENV_FILE.tmp"
  {
    printf '# Written by conveyor tools/env/up.sh on %s. Source it: . %s\n' "$(date -Is)" "$ENV_FILE"
    _export CONVEYOR_ENV_DIR "$STATE"
    _export CONVEYOR_CONTAINER_ENGINE "$ENGINE"
    if [[ "$ENGINE" == podman ]]; then
      _export DOCKER_HOST "$PODMAN_DOCKER_HOST"
    fi
    _export CONVEYOR_COMPOSE_COMMAND "$COMPOSE_CMD"
    _export CONVEYOR_TEST_REGISTRY "localhost:$REGISTRY_PORT"
    _export CONVEYOR_TEST_AUTH_REGISTRY "localhost:$AUTH_REGISTRY_PORT"
    _export CONVEYOR_TEST_FAULTS_REGISTRY "localhost:$FAULTS_REGISTRY_PORT"
    _export CONVEYOR_TEST_FAULTS_REGISTRY_DIR "$FAULTS_REGISTRY_DIR"
    _export CONVEYOR_TEST_AUTH_REGISTRY_USER "$AUTH_REGISTRY_USER"
    _export CONVEYOR_TEST_AUTH_REGISTRY_PASSWORD_FILE "$AUTH_REGISTRY_PASSWORD_FILE"
    _export CONVEYOR_NODE_IMAGE "$NODE_IMAGE"
    _export CONVEYOR_WEB_IMAGE "$WEB_IMAGE"
    _export CONVEYOR_PROXY_IMAGE "$PROXY_IMAGE"
    _export CONVEYOR_PROMETHEUS_IMAGE "$PROMETHEUS_IMAGE"
    _export CONVEYOR_ALERTMANAGER_IMAGE "$ALERTMANAGER_IMAGE"
    _export CONVEYOR_EDGE_IMAGE "$EDGE_IMAGE"
    _export CONVEYOR_POSTGRES_IMAGE "$POSTGRES_IMAGE"
    _export CONVEYOR_TEST_SSH_HOST "$SSHD_HOST"
    _export CONVEYOR_TEST_SSH_PORT "$SSHD_PORT"
    # Tests deploy as the non-root user (group docker); root for what only root may do.
    _export CONVEYOR_TEST_SSH_USER "$DEPLOY_USER"
    _export CONVEYOR_TEST_SSH_ROOT_USER root
    _export CONVEYOR_TEST_DEPLOY_ROOT "$DEPLOY_ROOT"
    _export CONVEYOR_TEST_DEPLOY_UID "$DEPLOY_UID"
    _export CONVEYOR_TEST_DEPLOY_GID "$DEPLOY_GID"
    _export CONVEYOR_TEST_SSH_KEY "$SSH_KEY"
    _export CONVEYOR_TEST_SSH_KNOWN_HOSTS "$SSH_KNOWN_HOSTS"
  } >"$tmp"
  mv "$tmp" "$ENV_FILE"
}
