#!/usr/bin/env bash
# Command-line tools the tests and benchmarks use (nothing is started).
# Sourced by up.sh.
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file

# postgresql: its binaries make the tests' scratch databases (Debian's own cluster is never started).
# chromium: the browser of the generated apps' Playwright tests (Playwright's own download cannot run here).
# cloud-init: `cloud-init schema` checks the server generator's user-data (its services find no cloud here).
EXTRA_PACKAGES=(curl ca-certificates git jq wrk hyperfine prometheus shellcheck postgresql chromium cloud-init)

setup_tools() {
  log "tools"
  apt_install "${EXTRA_PACKAGES[@]}"
  info "installed: ${EXTRA_PACKAGES[*]} (prometheus and postgresql are not started; promtool and the postgresql binaries are there)"
  summary tools "${EXTRA_PACKAGES[*]}"
}
