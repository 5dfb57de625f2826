#!/usr/bin/env bash
# shellcheck disable=SC2034  # BUILD_ARGS, WS are used by the scripts that source this file
# Shared by the benchmarks: environment, a fresh workspace with the packed plugin and one app.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

bench_setup() {
  cd "$REPO"
  if [ ! -x node_modules/.bin/nx ]; then npm ci --no-audit --no-fund; fi
  bash tools/env/up.sh >/dev/null
  # shellcheck disable=SC1091
  source "${CONVEYOR_ENV_DIR:-/var/tmp/conveyor-env}/env.sh"
  # Set-up runs without Nx's daemon: started while the workspace is created and installed, Nx 23.2.1's
  # daemon later failed with "DB transaction error ... FOREIGN KEY constraint failed" (nrwl/nx#37118).
  export NX_DAEMON=false NX_TUI=false NX_NO_CLOUD=true
  BENCH=$(mktemp -d /tmp/conveyor-bench-XXXXXX)
  npx nx run plugin:build --outputStyle=static >/dev/null
  npm pack --silent --pack-destination "$BENCH" dist/packages/plugin >/dev/null
  (cd "$BENCH" && npx -y create-nx-workspace@23.2.1 ws --preset=apps --nxCloud=skip --interactive=false --packageManager=npm --skipGit >/dev/null)
  WS=$BENCH/ws
  cd "$WS"
  npm install --silent --no-audit --no-fund --save-dev "$BENCH"/conveyor-plugin-*.tgz
  npx nx g @conveyor/plugin:app shop --no-interactive >/dev/null
  git init -q -b main && git add -A && git -c user.name=b -c user.email=b@example.com commit -qm shop
  # A team's repository has a remote (Nx reads it for the workspace's identity, two git calls fewer
  # per process than without); a unique one, so no run shares Nx's per-user cache with another.
  git remote add origin "https://git.example.com/bench/$(basename "$BENCH").git"
  # The measured commands run with the daemon, as on a developer's machine (Nx turns it off in CI):
  # BENCH_NX_DAEMON=false measures that case.
  export NX_DAEMON=${BENCH_NX_DAEMON:-true}
  # `nx` is the workspace's own binary (what a global nx runs); npx would add ~0.4 s of npm to every command.
  export PATH=$WS/node_modules/.bin:$PATH
  # The daemon's start and first project graph are not part of any measured run.
  nx show projects >/dev/null
  BUILD_ARGS=(--buildArgs.NODE_IMAGE="$CONVEYOR_NODE_IMAGE" --buildArgs.WEB_IMAGE="$CONVEYOR_WEB_IMAGE")
  export LOCAL_REGISTRY_URL=$CONVEYOR_TEST_REGISTRY
}

# A change that reaches the built frontend (a comment would be minified away and change no image).
commit_frontend_change() {
  echo ".bench-$1 { color: #0a0a0a; }" >> apps/shop/frontend/src/styles.css
  git -c user.name=b -c user.email=b@example.com commit -qam "$1"
}

# seconds (3 decimals) a command takes; its output goes to $BENCH/last.log
timed() {
  local start end
  start=$(date +%s.%N)
  "$@" >"$BENCH/last.log" 2>&1 || { cat "$BENCH/last.log" >&2; return 1; }
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}

# quiet CMD...: runs CMD, shows its output only when it fails.
quiet() { "$@" >"$BENCH/quiet.log" 2>&1 || { cat "$BENCH/quiet.log" >&2; return 1; }; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
