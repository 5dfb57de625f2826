#!/usr/bin/env bash
# Prometheus tools and local images for the monitoring tests (nothing is started):
#   promtool, amtool                        Debian's prometheus and prometheus-alertmanager
#   localhost/conveyor/prometheus:2         busybox + Debian's prometheus, set up like prom/prometheus
#   localhost/conveyor/alertmanager:0       busybox + Debian's alertmanager, set up like prom/alertmanager
# Sourced by up.sh after images.sh (uses its helpers); needs ENGINE.
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file

PROMETHEUS_PACKAGES=(prometheus prometheus-alertmanager)
PROMETHEUS_IMAGE=localhost/conveyor/prometheus:2
ALERTMANAGER_IMAGE=localhost/conveyor/alertmanager:0

# _monitoring_rootfs ROOTFS BINARY NAME DATA_DIR: busybox + BINARY as /bin/NAME + a DATA_DIR that
# the nobody user can write (_import stores every file as root, so it is world-writable instead of
# owned by nobody; a named volume mounted there starts as a copy of it).
_monitoring_rootfs() {
  local rootfs="$1" bin="$2" name="$3" data="$4"
  _base_rootfs "$rootfs"
  _copy_file "$rootfs" "$bin" "/bin/$name"
  _copy_libs "$rootfs" "$bin"
  mkdir -p "$rootfs/etc/$name" "$rootfs$data"
  chmod 0777 "$rootfs$data"
  # Debian's builds read their templates and web assets from /usr/share/prometheus.
  if [[ -d "/usr/share/prometheus/$name" ]]; then
    mkdir -p "$rootfs/usr/share/prometheus"
    cp -a "/usr/share/prometheus/$name" "$rootfs/usr/share/prometheus/"
  fi
  # Time zones and CA certificates, as the upstream images have them.
  [[ -d /usr/share/zoneinfo ]] && mkdir -p "$rootfs/usr/share" && cp -a /usr/share/zoneinfo "$rootfs/usr/share/"
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] && _copy_file "$rootfs" /etc/ssl/certs/ca-certificates.crt
  return 0
}

_build_prometheus_image() {
  local rootfs="$1/prometheus"
  _monitoring_rootfs "$rootfs" "$(command -v prometheus)" prometheus /prometheus
  mkdir -p "$rootfs/usr/share/prometheus"
  cp -a /usr/share/prometheus/web "$rootfs/usr/share/prometheus/"
  cat >"$rootfs/etc/prometheus/prometheus.yml" <<'YML'
global:
  scrape_interval: 15s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['localhost:9090']
YML
  _import "$rootfs" "$PROMETHEUS_IMAGE" \
    "ENV $IMAGE_PATH_ENV" \
    'USER 65534:65534' \
    'EXPOSE 9090' \
    'WORKDIR /prometheus' \
    'ENTRYPOINT ["/bin/prometheus"]' \
    'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]' \
    "LABEL org.opencontainers.image.description=conveyor local prometheus image (Debian prometheus + busybox)"
}

_build_alertmanager_image() {
  local rootfs="$1/alertmanager"
  _monitoring_rootfs "$rootfs" "$(command -v prometheus-alertmanager)" alertmanager /alertmanager
  cat >"$rootfs/etc/alertmanager/alertmanager.yml" <<'YML'
route:
  receiver: default
receivers:
  - name: default
YML
  _import "$rootfs" "$ALERTMANAGER_IMAGE" \
    "ENV $IMAGE_PATH_ENV" \
    'USER 65534:65534' \
    'EXPOSE 9093' \
    'WORKDIR /alertmanager' \
    'ENTRYPOINT ["/bin/alertmanager"]' \
    'CMD ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"]' \
    "LABEL org.opencontainers.image.description=conveyor local alertmanager image (Debian alertmanager + busybox)"
}

_check_monitoring_image() {
  local image="$1" name="$2"
  "$ENGINE" run --rm "$image" --version >>"$IMAGES_LOG" 2>&1 ||
    fail images "$IMAGES_LOG" "$image does not run $name"
  info "$image runs $name"
}

setup_prometheus() {
  log "prometheus"
  apt_install "${PROMETHEUS_PACKAGES[@]}" busybox-static tar
  if ! command -v promtool >/dev/null || ! command -v amtool >/dev/null; then
    die "promtool or amtool is missing after installing ${PROMETHEUS_PACKAGES[*]}"
  fi
  local need_prometheus=0 need_alertmanager=0 work
  if [[ "$REBUILD_IMAGES" == 1 ]] || ! _image_exists "$PROMETHEUS_IMAGE"; then need_prometheus=1; fi
  if [[ "$REBUILD_IMAGES" == 1 ]] || ! _image_exists "$ALERTMANAGER_IMAGE"; then need_alertmanager=1; fi
  if [[ "$need_prometheus" == 0 && "$need_alertmanager" == 0 ]]; then
    info "$PROMETHEUS_IMAGE, $ALERTMANAGER_IMAGE: already built (--rebuild to rebuild)"
    summary prometheus "promtool, amtool; $PROMETHEUS_IMAGE, $ALERTMANAGER_IMAGE (already built)"
    return 0
  fi
  make_tmp work
  if [[ "$need_prometheus" == 1 ]]; then
    info "building $PROMETHEUS_IMAGE"
    _build_prometheus_image "$work"
    _check_monitoring_image "$PROMETHEUS_IMAGE" prometheus
  fi
  if [[ "$need_alertmanager" == 1 ]]; then
    info "building $ALERTMANAGER_IMAGE"
    _build_alertmanager_image "$work"
    _check_monitoring_image "$ALERTMANAGER_IMAGE" alertmanager
  fi
  summary prometheus "promtool, amtool; $PROMETHEUS_IMAGE, $ALERTMANAGER_IMAGE (built)"
}
