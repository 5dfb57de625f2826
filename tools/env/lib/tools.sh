#!/usr/bin/env bash
# Command-line tools the tests and benchmarks use (nothing is started).
# Sourced by up.sh.
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file

EXTRA_PACKAGES=(curl ca-certificates git jq wrk hyperfine prometheus shellcheck)

setup_tools() {
  log "tools"
  apt_install "${EXTRA_PACKAGES[@]}"
  info "installed: ${EXTRA_PACKAGES[*]} (prometheus is not started; promtool is on the PATH)"
  summary tools "${EXTRA_PACKAGES[*]}"
}
