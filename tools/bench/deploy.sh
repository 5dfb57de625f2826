#!/usr/bin/env bash
# npm run bench:deploy — over real SSH to the test host, side by side in one run:
#   deploy of a new tag; a rollback; and the manual route for the same change
#   (edit .env on the host, compose pull, compose up -d, curl until healthy).
# shellcheck source=tools/bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_setup
REGISTRY_NS=bench$(date +%s)
export REGISTRY_NS REGISTRY_URL=$CONVEYOR_TEST_REGISTRY
export STAGING_SSH_HOST=$CONVEYOR_TEST_SSH_HOST STAGING_SSH_PORT=$CONVEYOR_TEST_SSH_PORT STAGING_SSH_USER=$CONVEYOR_TEST_SSH_USER
STAGING_SSH_KNOWN_HOSTS=$(cat "$CONVEYOR_TEST_SSH_KNOWN_HOSTS")
SSH_KEY_B64=$(base64 -w0 "$CONVEYOR_TEST_SSH_KEY")
export STAGING_SSH_KNOWN_HOSTS SSH_KEY_B64
export STAGING_DEPLOY_PATH=$BENCH/server STAGING_COMPOSE_COMMAND=$CONVEYOR_COMPOSE_COMMAND
export BACKEND_PORT=${BENCH_BACKEND_PORT:-18480} FRONTEND_PORT=${BENCH_FRONTEND_PORT:-18481}
# The manual route edits the .env of a recreate-style release, so both sides use that layout
# (bench:zero-downtime measures blue-green).
export STAGING_DEPLOY_STRATEGY=recreate PROXY_IMAGE=$CONVEYOR_PROXY_IMAGE
S=(--configuration=staging --outputStyle=static)

npx nx run shop:build-push "${S[@]}" "${BUILD_ARGS[@]}" >/dev/null
v1=$(git rev-parse --short HEAD)
npx nx run shop:deploy "${S[@]}" >/dev/null
commit_frontend_change v2
npx nx run shop:build-push "${S[@]}" "${BUILD_ARGS[@]}" >/dev/null
v2=$(git rev-parse --short HEAD)

deploy=$(timed npx nx run shop:deploy "${S[@]}")          # v1 -> v2
rollback=$(timed npx nx run shop:rollback "${S[@]}")      # v2 -> v1

manual() { # v1 -> v2 by hand, as the seed documents it
  ssh -i "$CONVEYOR_TEST_SSH_KEY" -o UserKnownHostsFile="$CONVEYOR_TEST_SSH_KNOWN_HOSTS" -o BatchMode=yes \
    -p "$STAGING_SSH_PORT" "$STAGING_SSH_USER@$STAGING_SSH_HOST" \
    "cd $STAGING_DEPLOY_PATH/shop && sed -i 's/^IMAGE_TAG=.*/IMAGE_TAG=$v2/' .env && $STAGING_COMPOSE_COMMAND pull && $STAGING_COMPOSE_COMMAND up -d && \
     until curl -fsS http://127.0.0.1:$BACKEND_PORT/metrics | grep -q '\"image_tag\":\"$v2\"'; do sleep 0.2; done"
}
manual_s=$(timed manual)
(cd "$STAGING_DEPLOY_PATH/shop" && $STAGING_COMPOSE_COMMAND down >/dev/null 2>&1) || true

printf '\nOne release change of one app (backend + frontend) over SSH to the test host, %s\n\n' "$CONVEYOR_CONTAINER_ENGINE"
printf '| operation | seconds | vs manual route |\n|---|---:|---:|\n'
printf '| deploy %s -> %s (lock, pull, up, health gate, history, notice) | %.2f | %sx |\n' "$v1" "$v2" "$deploy" "$(ratio "$deploy" "$manual_s")"
printf '| rollback %s -> %s (same gate) | %.2f | %sx |\n' "$v2" "$v1" "$rollback" "$(ratio "$rollback" "$manual_s")"
printf '| manual: edit .env, compose pull, up -d, curl until healthy | %.2f | 1.0x |\n' "$manual_s"
rm -rf "$BENCH"
