#!/usr/bin/env bash
# npm run bench:zero-downtime — constant load (16 keep-alive connections on the public /metrics)
# during a deploy and a rollback (blue-green: five rollbacks back and forth), with each strategy; prints
# requests, failed requests, p99 latency during the operation and the time from command to the new
# version answering.
# shellcheck source=tools/bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_setup
REGISTRY_NS=bench$(date +%s)
export REGISTRY_NS LOCAL_DEPLOY_PATH=$BENCH/server LOCAL_COMPOSE_COMMAND=$CONVEYOR_COMPOSE_COMMAND
export PROXY_IMAGE=$CONVEYOR_PROXY_IMAGE LOCAL_DRAIN_SECONDS=${BENCH_DRAIN_SECONDS:-30} CONVEYOR_DEPLOYER=bench
RUN=("$REPO/node_modules/.bin/ts-node" -T -O '{"module":"commonjs"}' "$REPO/tools/bench/zero-downtime-run.ts" "$WS")
declare -A PORT=([bg]=18600 [rc]=18610) STRATEGY=([bg]=blue-green [rc]=recreate)

for app in bg rc; do
  nx g @conveyor/plugin:app "$app" --backendPort="${PORT[$app]}" --frontendPort=$((PORT[$app] + 1)) --no-interactive >/dev/null
done
git add -A && git -c user.name=b -c user.email=b@example.com commit -qm apps
push_all() { for app in bg rc; do nx run "$app:build-push" "${BUILD_ARGS[@]}" --outputStyle=static >/dev/null; done; }
push_all
for app in bg rc; do
  LOCAL_DEPLOY_STRATEGY=${STRATEGY[$app]} BACKEND_PORT=${PORT[$app]} FRONTEND_PORT=$((PORT[$app] + 1)) \
    nx run "$app:deploy" --outputStyle=static >/dev/null
done
for app in bg rc; do sed -i "s/ok: true,/ok: true, release: 'v2',/" "apps/$app/backend/src/app.ts"; done
git -c user.name=b -c user.email=b@example.com commit -qam v2
push_all

results=()
for app in bg rc; do
  export LOCAL_DEPLOY_STRATEGY=${STRATEGY[$app]} BACKEND_PORT=${PORT[$app]} FRONTEND_PORT=$((PORT[$app] + 1))
  url=http://127.0.0.1:${PORT[$app]}/metrics
  results+=("$("${RUN[@]}" "$url" "${STRATEGY[$app]} deploy" run "$app:deploy")")
  # Blue-green rollbacks go back and forth between two running colours: five of them, for a median.
  n=1 && [ "$app" = bg ] && n=5
  for i in $(seq "$n"); do
    label="${STRATEGY[$app]} rollback" && [ "$n" -gt 1 ] && label="$label $i/$n"
    results+=("$("${RUN[@]}" "$url" "$label" run "$app:rollback")")
  done
done
for app in bg rc; do
  for d in "$LOCAL_DEPLOY_PATH/$app" "$LOCAL_DEPLOY_PATH/$app"/{blue,green,proxy}; do
    [ -f "$d/docker-compose.yml" ] && (cd "$d" && $LOCAL_COMPOSE_COMMAND down >/dev/null 2>&1)
  done
done

printf '\nConstant load: 16 keep-alive connections on the public /metrics, %s, %s cores, Nx daemon %s\n\n' "$CONVEYOR_CONTAINER_ENGINE" "$(nproc)" "$NX_DAEMON"
printf '| operation | requests | failed | p99 during (ms) | command -> new version (s) | command total (s) |\n|---|---:|---:|---:|---:|---:|\n'
for r in "${results[@]}"; do
  jq -r '"| \(.label) | \(.requests) | \(.failed) | \(.p99) | \(.switchSeconds // "never") | \(.commandSeconds) |"' <<<"$r"
done
printf '%s\n' "${results[@]}" | jq -rs '[.[] | select(.label | startswith("blue-green rollback")) | .switchSeconds] | sort |
  "\nblue-green rollback to a running colour, command -> old version serving: median \(.[length / 2 | floor]) s (\(.[0])-\(.[-1]) s) of \(length) (target < 2 s)"'
nx daemon --stop >/dev/null 2>&1 || true
rm -rf "$BENCH"
