#!/usr/bin/env bash
# npm run bench:deploy — over real SSH to the test host, side by side in one run:
#   deploy of a new tag and a rollback with the default strategy (blue-green, drain 30 s), the same with
#   recreate, and the seed's manual route for the same change on a recreate-style app
#   (edit .env on the host, compose pull, compose up -d, curl until healthy).
# shellcheck source=tools/bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_setup
REGISTRY_NS=bench$(date +%s)
export REGISTRY_NS REGISTRY_URL=$CONVEYOR_TEST_REGISTRY
export STAGING_SSH_HOST=$CONVEYOR_TEST_SSH_HOST STAGING_SSH_PORT=$CONVEYOR_TEST_SSH_PORT STAGING_SSH_USER=$CONVEYOR_TEST_SSH_USER
STAGING_SSH_KNOWN_HOSTS=$(cat "$CONVEYOR_TEST_SSH_KNOWN_HOSTS")
SSH_KEY_B64=$(base64 -w0 "$CONVEYOR_TEST_SSH_KEY")
export STAGING_SSH_KNOWN_HOSTS SSH_KEY_B64 PROXY_IMAGE=$CONVEYOR_PROXY_IMAGE
# The server folder belongs to the non-root deploy user the test host offers (engine access through group docker).
STAGING_DEPLOY_PATH=$(mktemp -d "$CONVEYOR_TEST_DEPLOY_ROOT/bench-XXXXXX")
chown "$CONVEYOR_TEST_DEPLOY_UID:$CONVEYOR_TEST_DEPLOY_GID" "$STAGING_DEPLOY_PATH" && chmod 0755 "$STAGING_DEPLOY_PATH"
export STAGING_DEPLOY_PATH STAGING_COMPOSE_COMMAND=$CONVEYOR_COMPOSE_COMMAND CONVEYOR_DEPLOYER=bench
S=(--configuration=staging --outputStyle=static)
declare -A PORT=([shop]=18480 [seed]=18490) STRATEGY=([shop]=blue-green [seed]=recreate)
with() { STAGING_DEPLOY_STRATEGY=${STRATEGY[$1]} BACKEND_PORT=${PORT[$1]} FRONTEND_PORT=$((PORT[$1] + 1)) "${@:2}"; }

down_all() {
  for d in "$STAGING_DEPLOY_PATH"/shop/{blue,green,proxy} "$STAGING_DEPLOY_PATH/seed"; do
    [ -f "$d/docker-compose.yml" ] && (cd "$d" && $STAGING_COMPOSE_COMMAND down >/dev/null 2>&1)
  done
  return 0
}
trap down_all EXIT

quiet nx g @conveyor/plugin:app seed --no-interactive
# A host that has run the e2e suites keeps another workspace's abandoned `shop` on `staging` (planted on
# purpose): the bench's apps take compose projects of their own there.
for app in shop seed; do
  sed -i "s/^staging-1 .*/& conveyor_compose_project=$app-$REGISTRY_NS/" "apps/$app/infra/ansible/inventory/staging"
done
git add -A && git -c user.name=b -c user.email=b@example.com commit -qm seed
v1=$(git rev-parse --short HEAD)
for app in shop seed; do
  quiet nx run "$app:build-push" "${S[@]}" "${BUILD_ARGS[@]}"
  quiet with "$app" nx run "$app:deploy" "${S[@]}"
done
for app in shop seed; do sed -i "s/ok: true,/ok: true, release: 'v2',/" "apps/$app/backend/src/app.ts"; done
git -c user.name=b -c user.email=b@example.com commit -qam v2
v2=$(git rev-parse --short HEAD)
for app in shop seed; do quiet nx run "$app:build-push" "${S[@]}" "${BUILD_ARGS[@]}"; done

bg_deploy=$(timed with shop nx run shop:deploy "${S[@]}")     # v1 -> v2
bg_rollback=$(timed with shop nx run shop:rollback "${S[@]}") # v2 -> v1, v1's colour still draining
rc_deploy=$(timed with seed nx run seed:deploy "${S[@]}")
rc_rollback=$(timed with seed nx run seed:rollback "${S[@]}")

manual() { # v1 -> v2 by hand on the recreate-style app, as the seed documents it
  ssh -i "$CONVEYOR_TEST_SSH_KEY" -o UserKnownHostsFile="$CONVEYOR_TEST_SSH_KNOWN_HOSTS" -o BatchMode=yes \
    -p "$STAGING_SSH_PORT" "$STAGING_SSH_USER@$STAGING_SSH_HOST" \
    "cd $STAGING_DEPLOY_PATH/seed && sed -i 's/^IMAGE_TAG=.*/IMAGE_TAG=$v2/' .env && $STAGING_COMPOSE_COMMAND pull && $STAGING_COMPOSE_COMMAND up -d && \
     until curl -fsS http://127.0.0.1:${PORT[seed]}/metrics | grep -q '\"image_tag\":\"$v2\"'; do sleep 0.2; done"
}
manual_s=$(timed manual)
down_all

printf '\nOne release change of one app (backend + frontend) over SSH to the test host, %s\n\n' "$CONVEYOR_CONTAINER_ENGINE"
printf '| operation | seconds | vs manual route |\n|---|---:|---:|\n'
printf '| blue-green deploy %s -> %s (lock, pull, start colour, gate, switch, history, notice) | %.2f | %sx |\n' "$v1" "$v2" "$bg_deploy" "$(ratio "$bg_deploy" "$manual_s")"
printf '| blue-green rollback %s -> %s (old colour still draining: one switch) | %.2f | %sx |\n' "$v2" "$v1" "$bg_rollback" "$(ratio "$bg_rollback" "$manual_s")"
printf '| recreate deploy %s -> %s (lock, pull, up, gate, history, notice) | %.2f | %sx |\n' "$v1" "$v2" "$rc_deploy" "$(ratio "$rc_deploy" "$manual_s")"
printf '| recreate rollback %s -> %s (same gate) | %.2f | %sx |\n' "$v2" "$v1" "$rc_rollback" "$(ratio "$rc_rollback" "$manual_s")"
printf '| manual route: edit .env, compose pull, up -d, curl until healthy | %.2f | 1.0x |\n' "$manual_s"
nx daemon --stop >/dev/null 2>&1 || true
rm -rf "$BENCH" "$STAGING_DEPLOY_PATH"
