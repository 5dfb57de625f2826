#!/usr/bin/env bash
# npm run bench:build — build-push of one app, side by side in one run:
#   cold runs (Nx cache skipped, empty repositories) through the engine and assembled without one;
#   the same commit again (Nx cache); a commit touching only the frontend, assembled and through the
#   engine; and a naive baseline for that change that rebuilds and pushes every image with the engine.
# shellcheck source=tools/bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_setup
REGISTRY_NS=bench$(date +%s)
export REGISTRY_NS
# The engine path: the local base images (only the engine holds them), as before assembly existed.
BP_ENGINE=(nx run shop:build-push "${BUILD_ARGS[@]}" --outputStyle=static)
# Assembly reads the bases from a registry: the same images, pushed there once.
BASE_NS=base$REGISTRY_NS
for image in "$CONVEYOR_NODE_IMAGE" "$CONVEYOR_WEB_IMAGE"; do
  "$CONVEYOR_CONTAINER_ENGINE" tag "$image" "$LOCAL_REGISTRY_URL/$BASE_NS/${image##*/}"
  "$CONVEYOR_CONTAINER_ENGINE" push -q "$LOCAL_REGISTRY_URL/$BASE_NS/${image##*/}"
done
BP=(nx run shop:build-push --outputStyle=static
  --buildArgs.NODE_IMAGE="$LOCAL_REGISTRY_URL/$BASE_NS/${CONVEYOR_NODE_IMAGE##*/}"
  --buildArgs.WEB_IMAGE="$LOCAL_REGISTRY_URL/$BASE_NS/${CONVEYOR_WEB_IMAGE##*/}")

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
    "$engine" build -q ${NAIVE_NO_CACHE:+--no-cache} -f "apps/shop/$c/Dockerfile" --build-arg NODE_IMAGE="$CONVEYOR_NODE_IMAGE" \
      --build-arg WEB_IMAGE="$CONVEYOR_WEB_IMAGE" -t "$ref" "$ctx/$c"
    "$engine" push -q "$ref"
  done
  rm -rf "$ctx"
}

# Cold: no Nx cache for build-push or its dependencies, and a namespace of its own (empty repositories).
engine_cold=$(REGISTRY_NS=${REGISTRY_NS}e timed "${BP_ENGINE[@]}" --skip-nx-cache)
grep -q 'backend: building' "$BENCH/last.log" || { cat "$BENCH/last.log"; exit 1; }
# A fresh CI runner's engine holds no image yet: the same engine path on empty engine storage,
# with the bases pulled from the registry (Podman reads CONTAINERS_STORAGE_CONF).
fresh_storage() {
  mkdir -p "$BENCH/storage"
  printf '[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n' \
    "$BENCH/storage/root" "$BENCH/storage/run" >"$BENCH/storage.conf"
  echo "$BENCH/storage.conf"
}
engine_fresh=""
if [ "$CONVEYOR_CONTAINER_ENGINE" = podman ]; then
  conf=$(fresh_storage)
  engine_fresh=$(CONTAINERS_STORAGE_CONF=$conf REGISTRY_NS=${REGISTRY_NS}f timed "${BP[@]}" --assemble=false --skip-nx-cache)
  CONTAINERS_STORAGE_CONF=$conf podman rmi -af >/dev/null 2>&1 || true
  rm -rf "$BENCH/storage"
fi
first=$(timed "${BP[@]}" --skip-nx-cache)
grep -q 'backend: assembled' "$BENCH/last.log" || { cat "$BENCH/last.log"; exit 1; }
# Runs of a few seconds or less are near the machine's noise: medians.
cached=$(median_of 5 same "${BP[@]}")
one=$(median_of 3 commit "${BP[@]}")
grep -q 'frontend: assembled' "$BENCH/last.log" || { cat "$BENCH/last.log"; exit 1; }
one_engine=$(REGISTRY_NS=${REGISTRY_NS}e median_of 3 commit "${BP_ENGINE[@]}")
naive=$(median_of 3 commit naive_push)
# The same script on a runner without the engine's layer cache (what a fresh CI runner has).
naive_nc=$(NAIVE_NO_CACHE=1 median_of 3 commit naive_push)

printf '\nbuild-push of one app (backend + frontend images), %s, %s\n\n' "$CONVEYOR_CONTAINER_ENGINE" "$(nproc) cores"
printf '| run | seconds | vs engine cold |\n|---|---:|---:|\n'
printf '| engine path, cold (Nx cache skipped, empty repositories) | %.2f | 1.0x |\n' "$engine_cold"
if [ -n "$engine_fresh" ]; then
  printf '| engine path, cold on a fresh runner (empty engine storage: bases pulled) | %.2f | %sx faster |\n' "$engine_fresh" "$(ratio "$engine_cold" "$engine_fresh")"
fi
printf '| assembled, cold (same) | %.2f | %sx faster |\n' "$first" "$(ratio "$engine_cold" "$first")"
printf '| same commit again (Nx cache hit, median of 5) | %.2f | %sx faster |\n' "$cached" "$(ratio "$engine_cold" "$cached")"
printf '| commit touching only the frontend, assembled (median of 3) | %.2f | %sx faster |\n' "$one" "$(ratio "$engine_cold" "$one")"
printf '| commit touching only the frontend, engine path (median of 3) | %.2f | %sx faster |\n' "$one_engine" "$(ratio "$engine_cold" "$one_engine")"
printf '| naive: engine rebuild + push of every image, same kind of change (median of 3) | %.2f | %sx faster |\n' "$naive" "$(ratio "$engine_cold" "$naive")"
printf '| naive, without the engine layer cache (--no-cache, median of 3) | %.2f | %sx faster |\n' "$naive_nc" "$(ratio "$engine_cold" "$naive_nc")"
printf '\nassembled cold vs engine cold: %sx (target >= 2x)\n' "$(ratio "$engine_cold" "$first")"
[ -z "$engine_fresh" ] || printf 'assembled cold vs engine cold on a fresh runner: %sx\n' "$(ratio "$engine_fresh" "$first")"
printf 'one-service change, assembled, vs naive rebuild of every image: %sx (target >= 3x)\n' "$(ratio "$naive" "$one")"
printf 'one-service change, assembled, vs naive rebuild without layer cache: %sx\n' "$(ratio "$naive_nc" "$one")"
printf 'unchanged commit vs assembled cold: %sx\n' "$(ratio "$first" "$cached")"
nx daemon --stop >/dev/null 2>&1 || true
rm -rf "$BENCH"
