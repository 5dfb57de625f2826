#!/usr/bin/env bash
# The main job on the embedded default (the "local" profile): a new Nx workspace in a temp
# folder, the plugin installed from its tarball, an app generated, built, pushed to the local
# registry and deployed to this machine, at its own name over HTTPS through the host's edge with a
# certificate from a local ACME CA (Pebble); then a new commit is deployed and rolled back.
# Works on a fresh clone: installs what it needs (tools/env/up.sh, npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."
APP=${DEMO_APP:-demo}
# Public ports whose blue-green colours (+10000, +20000) stay below the kernel's ephemeral range.
export BACKEND_PORT=${DEMO_BACKEND_PORT:-8180}
export FRONTEND_PORT=${DEMO_FRONTEND_PORT:-5273}
export EDGE_HTTP_PORT=${DEMO_EDGE_HTTP_PORT:-18880} EDGE_HTTPS_PORT=${DEMO_EDGE_HTTPS_PORT:-18443}
DOMAIN=$APP.conveyor.test
WORK=${DEMO_DIR:-$(mktemp -d /tmp/conveyor-demo-XXXXXX)}
mkdir -p "$WORK"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ ! -x node_modules/.bin/nx ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci"
  npm ci --no-audit --no-fund
fi
step "Test environment: container engine, local registry, base images"
bash tools/env/up.sh
# shellcheck disable=SC1091
source "${CONVEYOR_ENV_DIR:-/var/tmp/conveyor-env}/env.sh"
export LOCAL_REGISTRY_URL=$CONVEYOR_TEST_REGISTRY LOCAL_COMPOSE_COMMAND=$CONVEYOR_COMPOSE_COMMAND
export LOCAL_DEPLOY_PATH=$WORK/server REGISTRY_NS=demo NX_DAEMON=false NX_TUI=false NX_NO_CLOUD=true
# The local profile deploys blue-green: HAProxy owns the public ports (a local image: nothing can be pulled here).
export PROXY_IMAGE=$CONVEYOR_PROXY_IMAGE LOCAL_DRAIN_SECONDS=${DEMO_DRAIN_SECONDS:-30}
BUILD_ARGS=(--buildArgs.NODE_IMAGE="$CONVEYOR_NODE_IMAGE" --buildArgs.WEB_IMAGE="$CONVEYOR_WEB_IMAGE")
# The app's name over HTTPS: the local profile's domain, served by an edge of the demo's own
# (container conveyor-edge-demo, its own ports) with a certificate from Pebble, which resolves every
# name to this machine. A real server keeps the defaults (conveyor-edge on 80/443, Let's Encrypt).
export LOCAL_DOMAIN=$DOMAIN EDGE_NAME=conveyor-edge-demo EDGE_IMAGE=$CONVEYOR_EDGE_IMAGE ACME_EMAIL=demo@conveyor.test

# A demo app an earlier run left (running, stopped half-way, or with its folder since deleted, as a
# reboot empties /tmp) holds the same ports and compose projects. Each demo is a new workspace with
# a history of its own, so the earlier one is retired: its containers are found by their compose
# labels (the projects <app>-local, -blue, -green, -proxy), whether or not their folder exists.
for project in "$APP-local" "$APP-local-blue" "$APP-local-green" "$APP-local-proxy"; do
  ids=$(docker ps -aq --filter "label=com.docker.compose.project=$project")
  if [ -n "$ids" ]; then
    step "Removing the $project containers an earlier demo left"
    # shellcheck disable=SC2086 # one word per container id
    docker rm -f $ids >/dev/null
  fi
done

ids=$(docker ps -aq --filter "name=^$EDGE_NAME\$")
if [ -n "$ids" ]; then
  step "Removing the edge an earlier demo left ($EDGE_NAME)"
  docker rm -f "$EDGE_NAME" >/dev/null
fi
step "A local ACME CA (Pebble) validating names through the edge's HTTP port $EDGE_HTTP_PORT"
PEBBLE_SH=$PWD/tools/pebble.sh
bash "$PEBBLE_SH" start "$WORK/pebble" "$EDGE_HTTP_PORT" "$EDGE_HTTPS_PORT"
trap 'bash "$PEBBLE_SH" stop "$WORK/pebble" || true' EXIT
# shellcheck disable=SC1091
. "$WORK/pebble/pebble.env"
export ACME_CA=$PEBBLE_DIRECTORY ACME_CA_ROOT=$PEBBLE_SERVER_CERT

step "Build and pack @conveyor/plugin"
npx nx run plugin:build --outputStyle=static >/dev/null
rm -f "$WORK"/*.tgz
npm pack --silent --pack-destination "$WORK" dist/packages/plugin >/dev/null
TARBALL=$(ls "$WORK"/conveyor-plugin-*.tgz)

if [ -n "${DEMO_WORKSPACE_TEMPLATE:-}" ]; then
  # The e2e test of the demo reuses a workspace made by the same two commands below (its template).
  step "New Nx workspace in $WORK/ws (a copy of $DEMO_WORKSPACE_TEMPLATE)"
  cp -a "$DEMO_WORKSPACE_TEMPLATE" "$WORK/ws"
  cd "$WORK/ws"
else
  step "New Nx workspace in $WORK/ws"
  (cd "$WORK" && npx -y create-nx-workspace@23.2.1 ws --preset=apps --nxCloud=skip --interactive=false --packageManager=npm --skipGit >/dev/null)
  cd "$WORK/ws"
  npm install --silent --no-audit --no-fund --save-dev "$TARBALL"
fi

step "nx g @conveyor/plugin:app $APP --frontend=react-vite"
npx nx g @conveyor/plugin:app "$APP" --frontend=react-vite --no-interactive
git init -q -b main && git add -A && git -c user.name=demo -c user.email=demo@example.com commit -qm "$APP"

step "nx run-many -t lint test build"
npx nx run-many -t lint test build --outputStyle=static

show() {
  printf '\nhttps:    https://%s:%s/ (the backend at /api/)\n' "$DOMAIN" "$EDGE_HTTPS_PORT"
  printf 'backend:  http://127.0.0.1:%s/metrics\nfrontend: http://127.0.0.1:%s/\n' "$BACKEND_PORT" "$FRONTEND_PORT"
  printf '  curl --cacert %s --resolve %s:%s:127.0.0.1 https://%s:%s/api/metrics\n' \
    "$PEBBLE_ROOT" "$DOMAIN" "$EDGE_HTTPS_PORT" "$DOMAIN" "$EDGE_HTTPS_PORT"
  # The certificate checked against Pebble's root, the name resolved to this machine.
  curl -fsS --cacert "$PEBBLE_ROOT" --resolve "$DOMAIN:$EDGE_HTTPS_PORT:127.0.0.1" \
    "https://$DOMAIN:$EDGE_HTTPS_PORT/api/metrics"; echo
}

step "build-push + deploy (profile local) of $(git rev-parse --short HEAD)"
npx nx run "$APP:build-push" "${BUILD_ARGS[@]}" --outputStyle=static
npx nx run "$APP:deploy" --outputStyle=static
show

step "A new commit (backend change), build-push (frontend re-tagged, not rebuilt) and deploy"
sed -i "s/ok: true,/ok: true, release: 'v2',/" "apps/$APP/backend/src/app.ts"
grep -q "release: 'v2'" "apps/$APP/backend/src/app.ts"
git commit -qam "v2" && git rev-parse --short HEAD
npx nx run "$APP:build-push" "${BUILD_ARGS[@]}" --outputStyle=static
npx nx run "$APP:deploy" --outputStyle=static
show

step "Rollback to the previous release"
npx nx run "$APP:rollback" --outputStyle=static
show

step "What runs on the (local) server, and its release history"
npx nx run "$APP:status" --outputStyle=static
npx nx run "$APP:history" --outputStyle=static
printf '\nThe app keeps running (proxy + live colour, and the edge %s). Stop it:\n' "$EDGE_NAME"
printf "  source %s/env.sh  # the engine's socket for %s\n" "${CONVEYOR_ENV_DIR:-/var/tmp/conveyor-env}" "$LOCAL_COMPOSE_COMMAND"
# shellcheck disable=SC2016 # the loop is printed for the user to run
printf '  for d in %s/{proxy,blue,green}; do (cd "$d" && %s down); done\n' "$LOCAL_DEPLOY_PATH/$APP" "$LOCAL_COMPOSE_COMMAND"
printf '  docker rm -f %s  # the edge\n' "$EDGE_NAME"
