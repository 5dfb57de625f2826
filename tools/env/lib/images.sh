#!/usr/bin/env bash
# Local base images (nothing can be pulled from the internet here), imported
# from root filesystems made of this machine's own binaries:
#   localhost/conveyor/node:20   busybox + this machine's node (+ npm)
#   localhost/conveyor/nginx:1   busybox + Debian's nginx, set up like nginx:alpine
#   localhost/conveyor/haproxy:2 busybox + Debian's haproxy, set up like haproxy:alpine (blue-green proxy)
# Sourced by up.sh; needs ENGINE.
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file

NODE_IMAGE=localhost/conveyor/node:20
WEB_IMAGE=localhost/conveyor/nginx:1
PROXY_IMAGE=localhost/conveyor/haproxy:2
IMAGES_LOG="$STATE/images.log"
REBUILD_IMAGES="${REBUILD_IMAGES:-0}"
IMAGE_PATH_ENV='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

# _copy_file ROOTFS SRC [DEST]: copies SRC (dereferenced) to ROOTFS/DEST.
_copy_file() {
  local rootfs="$1" src="$2" dest="${3:-$2}"
  mkdir -p "$rootfs$(dirname "$dest")"
  cp -L "$src" "$rootfs$dest"
}

# _copy_libs ROOTFS BINARY: copies every library ldd lists, at the same path.
_copy_libs() {
  local rootfs="$1" bin="$2" lib
  while read -r lib; do
    [[ -e "$rootfs$lib" ]] || _copy_file "$rootfs" "$lib"
  done < <(ldd "$bin" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }')
}

# _base_rootfs ROOTFS: busybox (static) with its applets, users, /tmp.
_base_rootfs() {
  local rootfs="$1" busybox applet
  busybox="$(command -v busybox)"
  mkdir -p "$rootfs"/{bin,sbin,etc,root,tmp,var/tmp,run,proc,sys,dev,usr/bin,usr/sbin,usr/local/bin,usr/local/sbin}
  chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
  chmod 0700 "$rootfs/root"
  cp -L "$busybox" "$rootfs/bin/busybox"
  while read -r applet; do
    [[ -n "$applet" && ! -e "$rootfs/bin/$applet" ]] && ln -s busybox "$rootfs/bin/$applet"
  done < <("$rootfs/bin/busybox" --list)
  cat >"$rootfs/etc/passwd" <<'TXT'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
TXT
  cat >"$rootfs/etc/group" <<'TXT'
root:x:0:
nogroup:x:65534:
TXT
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
}

# _import ROOTFS IMAGE CHANGE...: tars ROOTFS and imports it as IMAGE.
_import() {
  local rootfs="$1" image="$2" tarball
  shift 2
  tarball="$rootfs.tar"
  tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf "$tarball" .
  local args=() c old_id
  for c in "$@"; do args+=(--change "$c"); done
  old_id="$("$ENGINE" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
  "$ENGINE" import "${args[@]}" "$tarball" "$image" >>"$IMAGES_LOG" 2>&1 ||
    fail images "$IMAGES_LOG" "$ENGINE import of $image failed"
  rm -f "$tarball"
  # Drop the image this one replaced (kept when something still uses it).
  if [[ -n "$old_id" ]]; then
    "$ENGINE" rmi "$old_id" >/dev/null 2>&1 || true
  fi
}

_build_node_image() {
  local work="$1" rootfs="$1/node" node npm_dir version
  node="$(command -v node || true)"
  if [[ -z "$node" ]]; then
    warn "no node on this machine: installing Debian's nodejs for the image"
    apt_install nodejs
    node="$(command -v node)"
  fi
  node="$(readlink -f "$node")"
  version="$("$node" --version)"
  [[ "$version" == v20.* ]] || warn "node on this machine is $version, the image is still tagged $NODE_IMAGE"
  _base_rootfs "$rootfs"
  cat >>"$rootfs/etc/passwd" <<'TXT'
node:x:1000:1000:node:/home/node:/bin/sh
TXT
  printf 'node:x:1000:\n' >>"$rootfs/etc/group"
  mkdir -p "$rootfs/home/node" "$rootfs/app"
  chown 1000:1000 "$rootfs/home/node"
  _copy_file "$rootfs" "$node" /usr/local/bin/node
  _copy_libs "$rootfs" "$node"
  # npm, when it sits beside node (as in the official image).
  npm_dir="$(dirname "$(dirname "$node")")/lib/node_modules/npm"
  if [[ -f "$npm_dir/bin/npm-cli.js" ]]; then
    mkdir -p "$rootfs/usr/local/lib/node_modules"
    cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  fi
  _import "$rootfs" "$NODE_IMAGE" \
    "ENV $IMAGE_PATH_ENV" \
    "ENV NODE_VERSION=${version#v}" \
    'WORKDIR /app' \
    'CMD ["node"]' \
    "LABEL org.opencontainers.image.description=conveyor local node base image (node $version + busybox)"
}

_build_nginx_image() {
  local work="$1" rootfs="$1/nginx" nginx
  nginx="$(command -v nginx || echo /usr/sbin/nginx)"
  _base_rootfs "$rootfs"
  printf 'nginx:x:101:101:nginx:/nonexistent:/bin/false\n' >>"$rootfs/etc/passwd"
  printf 'nginx:x:101:\n' >>"$rootfs/etc/group"
  _copy_file "$rootfs" "$nginx" /usr/sbin/nginx
  _copy_libs "$rootfs" "$nginx"
  mkdir -p "$rootfs"/etc/nginx/conf.d "$rootfs"/usr/share/nginx/html \
    "$rootfs"/var/log/nginx "$rootfs"/var/lib/nginx "$rootfs"/var/cache/nginx "$rootfs"/run/lock
  ln -s ../run/lock "$rootfs/var/lock"
  ln -s ../run "$rootfs/var/run"
  # Logs go to the container's output, as in the official image.
  ln -s /dev/stdout "$rootfs/var/log/nginx/access.log"
  ln -s /dev/stderr "$rootfs/var/log/nginx/error.log"
  cp /etc/nginx/mime.types "$rootfs/etc/nginx/mime.types"
  cat >"$rootfs/etc/nginx/nginx.conf" <<'CONF'
user  nginx;
worker_processes  auto;

error_log  /dev/stderr notice;
pid        /run/nginx.pid;

events {
    worker_connections  1024;
}

http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;

    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';
    access_log  /dev/stdout  main;

    sendfile        on;
    keepalive_timeout  65;

    include /etc/nginx/conf.d/*.conf;
}
CONF
  cat >"$rootfs/etc/nginx/conf.d/default.conf" <<'CONF'
server {
    listen       80;
    server_name  localhost;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
CONF
  cat >"$rootfs/usr/share/nginx/html/index.html" <<'HTML'
<!DOCTYPE html>
<html><head><title>Welcome to nginx!</title></head>
<body><h1>Welcome to nginx!</h1><p>conveyor local nginx image</p></body></html>
HTML
  cat >"$rootfs/usr/share/nginx/html/50x.html" <<'HTML'
<!DOCTYPE html>
<html><head><title>Error</title></head>
<body><h1>An error occurred.</h1></body></html>
HTML
  _import "$rootfs" "$WEB_IMAGE" \
    "ENV $IMAGE_PATH_ENV" \
    'EXPOSE 80' \
    'STOPSIGNAL SIGQUIT' \
    'CMD ["nginx", "-g", "daemon off;"]' \
    "LABEL org.opencontainers.image.description=conveyor local nginx image (Debian nginx + busybox)"
}

_build_haproxy_image() {
  local work="$1" rootfs="$1/haproxy" haproxy
  haproxy="$(command -v haproxy || echo /usr/sbin/haproxy)"
  _base_rootfs "$rootfs"
  printf 'haproxy:x:99:99:haproxy:/var/lib/haproxy:/bin/false\n' >>"$rootfs/etc/passwd"
  printf 'haproxy:x:99:\n' >>"$rootfs/etc/group"
  _copy_file "$rootfs" "$haproxy" /usr/local/sbin/haproxy
  _copy_libs "$rootfs" "$haproxy"
  mkdir -p "$rootfs/usr/local/etc/haproxy" "$rootfs/var/lib/haproxy" "$rootfs/run/haproxy"
  cat >"$rootfs/usr/local/etc/haproxy/haproxy.cfg" <<'CONF'
global
    log stdout format raw local0
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend check
    bind :8404
    http-request return status 200 content-type text/plain string "haproxy ok"
CONF
  _import "$rootfs" "$PROXY_IMAGE" \
    "ENV $IMAGE_PATH_ENV" \
    'STOPSIGNAL SIGUSR1' \
    'CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]' \
    "LABEL org.opencontainers.image.description=conveyor local haproxy image (Debian haproxy + busybox)"
}

_check_haproxy_image() {
  local name=conveyor-env-haproxy-check port=18404
  "$ENGINE" rm -f "$name" >/dev/null 2>&1 || true
  "$ENGINE" run -d --name "$name" -p "127.0.0.1:$port:8404" "$PROXY_IMAGE" >>"$IMAGES_LOG" 2>&1 ||
    fail images "$IMAGES_LOG" "$PROXY_IMAGE did not start"
  if ! wait_until 20 curl -sf --max-time 2 "http://127.0.0.1:$port/"; then
    "$ENGINE" logs "$name" >>"$IMAGES_LOG" 2>&1 || true
    "$ENGINE" rm -f "$name" >/dev/null 2>&1 || true
    fail images "$IMAGES_LOG" "$PROXY_IMAGE does not answer on http://127.0.0.1:$port/"
  fi
  "$ENGINE" rm -f "$name" >/dev/null 2>&1 || true
  info "$PROXY_IMAGE serves its check page"
}

_image_exists() { "$ENGINE" image inspect "$1" >/dev/null 2>&1; }

_check_node_image() {
  local out
  out="$("$ENGINE" run --rm "$NODE_IMAGE" node -e 'console.log(process.version)' 2>>"$IMAGES_LOG")" ||
    fail images "$IMAGES_LOG" "$NODE_IMAGE does not run node"
  "$ENGINE" run --rm "$NODE_IMAGE" sh -c 'command -v wget && command -v npm' >>"$IMAGES_LOG" 2>&1 ||
    fail images "$IMAGES_LOG" "$NODE_IMAGE has no wget or npm"
  info "$NODE_IMAGE runs node $out"
}

_check_nginx_image() {
  local name=conveyor-env-nginx-check port=18080 body
  "$ENGINE" rm -f "$name" >/dev/null 2>&1 || true
  "$ENGINE" run -d --name "$name" -p "127.0.0.1:$port:80" "$WEB_IMAGE" >>"$IMAGES_LOG" 2>&1 ||
    fail images "$IMAGES_LOG" "$WEB_IMAGE did not start"
  if ! wait_until 20 curl -sf --max-time 2 "http://127.0.0.1:$port/"; then
    "$ENGINE" logs "$name" >>"$IMAGES_LOG" 2>&1 || true
    "$ENGINE" rm -f "$name" >/dev/null 2>&1 || true
    fail images "$IMAGES_LOG" "$WEB_IMAGE does not serve http://127.0.0.1:$port/"
  fi
  body="$(curl -sf --max-time 2 "http://127.0.0.1:$port/")"
  "$ENGINE" exec "$name" wget -q -O /dev/null http://127.0.0.1/ >>"$IMAGES_LOG" 2>&1 ||
    {
      "$ENGINE" rm -f "$name" >/dev/null 2>&1 || true
      fail images "$IMAGES_LOG" "wget inside $WEB_IMAGE failed"
    }
  "$ENGINE" rm -f "$name" >/dev/null 2>&1 || true
  [[ "$body" == *"Welcome to nginx"* ]] || fail images "$IMAGES_LOG" "$WEB_IMAGE served an unexpected page"
  info "$WEB_IMAGE serves its default page"
}

setup_images() {
  log "base images"
  local need_node=0 need_nginx=0 need_haproxy=0 work
  if [[ "$REBUILD_IMAGES" == 1 ]] || ! _image_exists "$NODE_IMAGE"; then need_node=1; fi
  if [[ "$REBUILD_IMAGES" == 1 ]] || ! _image_exists "$WEB_IMAGE"; then need_nginx=1; fi
  if [[ "$REBUILD_IMAGES" == 1 ]] || ! _image_exists "$PROXY_IMAGE"; then need_haproxy=1; fi
  if [[ "$need_node" == 0 && "$need_nginx" == 0 && "$need_haproxy" == 0 ]]; then
    info "$NODE_IMAGE, $WEB_IMAGE, $PROXY_IMAGE: already built (--rebuild to rebuild)"
    summary images "$NODE_IMAGE, $WEB_IMAGE, $PROXY_IMAGE (already built)"
    return 0
  fi
  apt_install busybox-static nginx haproxy tar
  make_tmp work
  if [[ "$need_node" == 1 ]]; then
    info "building $NODE_IMAGE"
    _build_node_image "$work"
    _check_node_image
  fi
  if [[ "$need_nginx" == 1 ]]; then
    info "building $WEB_IMAGE"
    _build_nginx_image "$work"
    _check_nginx_image
  fi
  if [[ "$need_haproxy" == 1 ]]; then
    info "building $PROXY_IMAGE"
    _build_haproxy_image "$work"
    _check_haproxy_image
  fi
  summary images "$NODE_IMAGE, $WEB_IMAGE, $PROXY_IMAGE (built)"
}
