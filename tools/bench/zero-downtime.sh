#!/usr/bin/env bash
# npm run bench:zero-downtime — constant load (16 keep-alive connections on the public /metrics) during
# each operation below, one table; each row gives requests, failed requests (non-2xx and socket errors),
# p99 latency during the operation, the time from command to the new version answering and the command's
# total time:
# - blue-green and recreate: a deploy and a rollback (blue-green: five rollbacks back and forth);
# - fleet deploy: a blue-green deploy to the two hosts of one environment (two inventory hosts on this
#   machine, local connection, each with its own ports, folder and compose project), 8 connections on
#   each host; the new version's time is the later host's;
# - canary abort: a canary (steps 10, 50, 100 %, 5 s each, judged by its own /metrics counters) of a
#   release whose /metrics answers 500 to ~30 % of requests; the deploy must fail. "first bad sample ->
#   weight 0" is the time from the first to the last response of that release (its version, or a 500),
#   and the line under the table gives the share of the requests of that window that reached it.
# shellcheck source=tools/bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_setup
REGISTRY_NS=bench$(date +%s)
export REGISTRY_NS LOCAL_DEPLOY_PATH=$BENCH/server LOCAL_COMPOSE_COMMAND=$CONVEYOR_COMPOSE_COMMAND
export PROXY_IMAGE=$CONVEYOR_PROXY_IMAGE LOCAL_DRAIN_SECONDS=${BENCH_DRAIN_SECONDS:-30} CONVEYOR_DEPLOYER=bench
RUN=("$REPO/node_modules/.bin/ts-node" -T -O '{"module":"commonjs"}' "$REPO/tools/bench/zero-downtime-run.ts" "$WS")
APPS=(bg rc fleet canary)
declare -A PORT=([bg]=18600 [rc]=18610 [fleet]=18620 [canary]=18630)
declare -A STRATEGY=([bg]=blue-green [rc]=recreate [fleet]=blue-green [canary]=canary)
FLEET_HOSTS=2

commit() { git -c user.name=b -c user.email=b@example.com commit -qam "$1"; }

# fleet_port I: the backend port of the fleet's host I (1, 2, ...); its frontend's is the next one.
fleet_port() { echo $((PORT[fleet] + ($1 - 1) * 2)); }

# fleet_dir I: the deploy folder of the fleet's host I.
fleet_dir() { echo "$LOCAL_DEPLOY_PATH/fleet-$1"; }

# app_dirs APP: the folder of each host where APP is deployed.
app_dirs() {
  local i
  if [ "$1" != fleet ]; then echo "$LOCAL_DEPLOY_PATH/$1" && return; fi
  for i in $(seq "$FLEET_HOSTS"); do echo "$(fleet_dir "$i")/fleet"; done
}

# public_urls APP: the public /metrics of every host of APP, comma-separated.
public_urls() {
  local i urls=()
  if [ "$1" != fleet ]; then echo "http://127.0.0.1:${PORT[$1]}/metrics" && return; fi
  for i in $(seq "$FLEET_HOSTS"); do urls+=("http://127.0.0.1:$(fleet_port "$i")/metrics"); done
  (IFS=, && echo "${urls[*]}")
}

# The fleet's inventory for the local profile: its hosts share this machine and its one engine, so each
# has its own ports, deploy folder and compose project (as fleet.e2e's do, without SSH).
write_fleet_inventory() {
  local i port
  {
    printf '# The bench fleet: %s hosts on this machine, local connection.\n[app]\n' "$FLEET_HOSTS"
    for i in $(seq "$FLEET_HOSTS"); do
      port=$(fleet_port "$i")
      mkdir -p "$(fleet_dir "$i")"
      printf 'local-%s ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"' "$i"
      printf ' conveyor_deploy_path=%s conveyor_backend_port=%s conveyor_frontend_port=%s conveyor_compose_project=fleet-local-%s\n' \
        "$(fleet_dir "$i")" "$port" $((port + 1)) "$i"
    done
  } >apps/fleet/infra/ansible/inventory/local
}

# Canary steps for the local profile (only a deploy with strategy canary reads them); no canary_prometheus:
# the canary is judged by its own /metrics counters.
add_canary_keys() { printf 'canary_steps: 10, 50, 100\ncanary_pause: 5\n' >>config/profiles/local.yml; }

# break_metrics FILE: the backend answers 500 to ~30 % of its /metrics requests (canary.e2e's bad release);
# the Prometheus format, which the analysis scrapes, and /health, which gates the release, stay healthy.
break_metrics() {
  local hook="app.addHook('onRequest', async (req, reply) => { if (req.url.startsWith('/metrics') && !req.url.includes('format=prometheus') && Math.random() < 0.3) return reply.code(500).send({ ok: false }); });"
  sed -i "/app\.get<.*('\/metrics'/i\\  $hook" "$1"
  grep -qF "$hook" "$1" || { echo "break_metrics: no /metrics route found in $1" >&2 && return 1; }
}

# deploy_env APP: the strategy and ports a deploy of APP runs with (the fleet's hosts set their own ports).
deploy_env() {
  export LOCAL_DEPLOY_STRATEGY=${STRATEGY[$1]} BACKEND_PORT=${PORT[$1]} FRONTEND_PORT=$((PORT[$1] + 1))
}

push_all() { for app in "${APPS[@]}"; do nx run "$app:build-push" "${BUILD_ARGS[@]}" --outputStyle=static >/dev/null; done; }

# measure APP LABEL NX_ARGS...: one row (JSON) of zero-downtime-run.ts under load on every host of APP.
measure() {
  local app=$1 label=$2
  shift 2
  results+=("$("${RUN[@]}" "$(public_urls "$app")" "$label" "$@")")
}

# compose down in every folder a release left on each host of every app, best effort.
down_all() {
  local app dir d
  for app in "${APPS[@]}"; do
    for dir in $(app_dirs "$app"); do
      for d in "$dir" "$dir"/{blue,green,proxy}; do
        if [ -f "$d/docker-compose.yml" ]; then
          (cd "$d" && $LOCAL_COMPOSE_COMMAND down >/dev/null 2>&1) || echo "compose down failed in $d" >&2
        fi
      done
    done
  done
}
# A run that stops half-way leaves no containers either.
trap down_all EXIT

for app in "${APPS[@]}"; do
  nx g @conveyor/plugin:app "$app" --backendPort="${PORT[$app]}" --frontendPort=$((PORT[$app] + 1)) --no-interactive >/dev/null
done
write_fleet_inventory
add_canary_keys
git add -A && commit apps
push_all
for app in "${APPS[@]}"; do (deploy_env "$app" && nx run "$app:deploy" --outputStyle=static >/dev/null); done
for app in bg rc fleet; do sed -i "s/ok: true,/ok: true, release: 'v2',/" "apps/$app/backend/src/app.ts"; done
break_metrics apps/canary/backend/src/app.ts
commit v2
push_all

results=()
for app in bg rc; do
  deploy_env "$app"
  measure "$app" "${STRATEGY[$app]} deploy" run "$app:deploy"
  # Blue-green rollbacks go back and forth between two running colours: five of them, for a median.
  n=1 && [ "$app" = bg ] && n=5
  for i in $(seq "$n"); do
    label="${STRATEGY[$app]} rollback" && [ "$n" -gt 1 ] && label="$label $i/$n"
    measure "$app" "$label" run "$app:rollback"
  done
done
deploy_env fleet
measure fleet "fleet deploy (blue-green, $FLEET_HOSTS hosts)" run fleet:deploy
deploy_env canary
measure canary "canary abort (release failing 30 % of requests)" run canary:deploy
down_all

printf '\nConstant load: 16 keep-alive connections on the public /metrics (the fleet: 8 on each host), %s, %s cores, Nx daemon %s\n\n' "$CONVEYOR_CONTAINER_ENGINE" "$(nproc)" "$NX_DAEMON"
printf '| operation | requests | failed | p99 during (ms) | command -> new version (s) | first bad sample -> weight 0 (s) | command total (s) |\n'
printf '|---|---:|---:|---:|---:|---:|---:|\n'
for r in "${results[@]}"; do
  jq -r '"| \(.label) | \(.requests) | \(.failed) | \(.p99) | \(if .exit != 0 then "none (failed, exit \(.exit))" else .switchSeconds // "never" end) | \(.failedRelease.seconds // "-") | \(.commandSeconds) |"' <<<"$r"
done
printf '%s\n' "${results[@]}" | jq -rs '[.[] | select(.label | startswith("blue-green rollback")) | .switchSeconds] | sort |
  "\nblue-green rollback to a running colour, command -> old version serving: median \(.[length / 2 | floor]) s (\(.[0])-\(.[-1]) s) of \(length) (target < 2 s)"'
printf '%s\n' "${results[@]}" | jq -rs '.[] | select(.label | startswith("canary abort")) |
  if .exit == 0 then "canary abort: the deploy of the bad release did not fail: it went live"
  elif .failedRelease == null then "canary abort: the deploy failed (exit \(.exit)) before any request reached the bad release"
  else .failedRelease | "canary abort: \(.requests) of \(.of) requests reached the bad release (\(.percent) %), \(.seconds) s from its first bad answer to weight 0"
  end'
nx daemon --stop >/dev/null 2>&1 || true
rm -rf "$BENCH"
