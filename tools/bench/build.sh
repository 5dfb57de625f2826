#!/usr/bin/env bash
# npm run bench:build — build-push of one app, side by side in one run:
#   first run; second run at the same commit (Nx cache); a commit touching only the frontend;
#   and a naive baseline for that same change that rebuilds and pushes every image.
# shellcheck source=tools/bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_setup
REGISTRY_NS=bench$(date +%s)
export REGISTRY_NS
BP=(nx run shop:build-push "${BUILD_ARGS[@]}" --outputStyle=static)

# The median of N timed runs of a command; with "commit", each run follows a new frontend-only commit.
median_of() {
  local n=$1 mode=$2 i
  shift 2
  for i in $(seq "$n"); do
    if [ "$mode" = commit ]; then commit_frontend_change "run-$i-$RANDOM"; fi
    timed "$@"
    echo
  done | sort -n | sed -n "$(((n + 1) / 2))p"
}

# Naive baseline: the same kind of frontend-only change, every image built by the engine (its own
# layer cache allowed) and pushed, as a plain build-and-push script would.
naive_push() {
  local tag ctx ref engine=$CONVEYOR_CONTAINER_ENGINE
  tag=$(git rev-parse --short HEAD)
  nx run-many -t build -p shop-backend shop-frontend --outputStyle=static
  nx run shop-backend:metrics-inject --outputStyle=static
  ctx=$(mktemp -d)
  mkdir -p "$ctx/backend" "$ctx/frontend"
  cp dist/apps/shop/backend/main.js dist/apps/shop/backend/build-info.json "$ctx/backend/"
  cp -r dist/apps/shop/frontend "$ctx/frontend/html" && cp apps/shop/frontend/nginx.conf "$ctx/frontend/"
  for c in backend frontend; do
    ref=$LOCAL_REGISTRY_URL/$REGISTRY_NS/shop_$c:$tag
    "$engine" build -q -f "apps/shop/$c/Dockerfile" --build-arg NODE_IMAGE="$CONVEYOR_NODE_IMAGE" \
      --build-arg WEB_IMAGE="$CONVEYOR_WEB_IMAGE" -t "$ref" "$ctx/$c"
    "$engine" push -q "$ref"
  done
  rm -rf "$ctx"
}

first=$(timed "${BP[@]}")
# Runs of a few seconds or less are near the machine's noise: medians.
cached=$(median_of 5 same "${BP[@]}")
one=$(median_of 3 commit "${BP[@]}")
naive=$(median_of 3 commit naive_push)

printf '\nbuild-push of one app (backend + frontend images), %s, %s\n\n' "$CONVEYOR_CONTAINER_ENGINE" "$(nproc) cores"
printf '| run | seconds | vs first | \n|---|---:|---:|\n'
printf '| first build-push (cold) | %.2f | 1.0x |\n' "$first"
printf '| same commit again (Nx cache hit, median of 5) | %.2f | %sx faster |\n' "$cached" "$(ratio "$first" "$cached")"
printf '| commit touching only the frontend (median of 3) | %.2f | %sx faster |\n' "$one" "$(ratio "$first" "$one")"
printf '| naive: rebuild + push every image, same kind of change (median of 3) | %.2f | %sx faster |\n' "$naive" "$(ratio "$first" "$naive")"
printf '\nunchanged commit vs first: %sx (target >= 20x)\n' "$(ratio "$first" "$cached")"
printf 'one-service change vs naive baseline: %sx (target >= 2x)\n' "$(ratio "$naive" "$one")"
nx daemon --stop >/dev/null 2>&1 || true
rm -rf "$BENCH"
