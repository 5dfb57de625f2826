#!/usr/bin/env bash
# The edge's parts for the HTTPS tests (nothing is started here; the tests start Pebble with their
# own ports, because its issuing root changes at every start):
#   caddy, pebble, pebble-challtestsrv   Debian's Caddy 2.6 and Let's Encrypt's test ACME CA
#   localhost/conveyor/caddy:2           busybox + Debian's caddy, set up like caddy:2
# Sourced by up.sh after images.sh (uses its helpers); needs ENGINE.
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file

EDGE_IMAGE=localhost/conveyor/caddy:2

_build_caddy_image() {
  local rootfs="$1/caddy" caddy
  caddy="$(command -v caddy)"
  _base_rootfs "$rootfs"
  _copy_file "$rootfs" "$caddy" /usr/bin/caddy
  _copy_libs "$rootfs" "$caddy"
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] && _copy_file "$rootfs" /etc/ssl/certs/ca-certificates.crt
  mkdir -p "$rootfs/etc/caddy" "$rootfs/data" "$rootfs/config"
  printf '{"admin": {"listen": "unix//run/caddy/admin.sock"}}\n' >"$rootfs/etc/caddy/caddy.json"
  _import "$rootfs" "$EDGE_IMAGE" \
    "ENV $IMAGE_PATH_ENV" \
    'ENV XDG_CONFIG_HOME=/config' \
    'ENV XDG_DATA_HOME=/data' \
    'WORKDIR /srv' \
    'CMD ["caddy", "run", "--config", "/etc/caddy/caddy.json"]' \
    "LABEL org.opencontainers.image.description=conveyor local caddy image (Debian caddy + busybox)"
}

setup_edge() {
  log "edge (Caddy, Pebble)"
  apt_install caddy pebble busybox-static tar openssl
  # Debian's caddy package starts a caddy service on port 80: the edge owns the ports, not it.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet caddy 2>/dev/null; then
    systemctl disable --now caddy >/dev/null 2>&1 || true
  fi
  # Only Debian's own caddy (user caddy): a caddy in a container (every host's edge, as root or the
  # deploy user) is another process of the same name, and killing it takes an edge down.
  pkill -x -u caddy caddy 2>/dev/null || true
  for b in caddy pebble pebble-challtestsrv; do
    command -v "$b" >/dev/null || die "$b is missing after installing caddy and pebble"
  done
  if [[ "$REBUILD_IMAGES" == 1 ]] || ! _image_exists "$EDGE_IMAGE"; then
    local work
    make_tmp work
    info "building $EDGE_IMAGE"
    _build_caddy_image "$work"
  fi
  "$ENGINE" run --rm "$EDGE_IMAGE" caddy version >>"$IMAGES_LOG" 2>&1 ||
    fail images "$IMAGES_LOG" "$EDGE_IMAGE does not run caddy"
  info "$EDGE_IMAGE runs $("$ENGINE" run --rm "$EDGE_IMAGE" caddy version 2>/dev/null | head -n1)"
  summary edge "caddy, pebble, pebble-challtestsrv; $EDGE_IMAGE"
}
