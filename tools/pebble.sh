#!/usr/bin/env bash
# A local ACME CA for the demo: Pebble (Let's Encrypt's test CA, installed by tools/env/up.sh)
# with pebble-challtestsrv as its DNS, which answers every name with 127.0.0.1. Pebble validates
# each HTTP-01 challenge on HTTP_PORT, the edge's HTTP port: the edge really serves it.
#   tools/pebble.sh start DIR HTTP_PORT HTTPS_PORT   starts both; writes DIR/pebble.env:
#       PEBBLE_DIRECTORY (the ACME directory), PEBBLE_SERVER_CERT (what the edge trusts Pebble's
#       own HTTPS with), PEBBLE_ROOT (the root the certificates it issues chain to), PEBBLE_PIDS
#   tools/pebble.sh stop DIR                         stops them
set -euo pipefail

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start() {
  local dir="$1" http_port="$2" https_port="$3" acme mgmt dns dns_mgmt i
  mkdir -p "$dir"
  acme=$(free_port) mgmt=$(free_port) dns=$(free_port) dns_mgmt=$(free_port)
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 7 \
    -subj /CN=pebble -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1
  cat >"$dir/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$acme", "managementListenAddress": "127.0.0.1:$mgmt",
  "certificate": "$dir/cert.pem", "privateKey": "$dir/key.pem", "httpPort": $http_port, "tlsPort": $https_port,
  "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF
  pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 '' -http01 '' -https01 '' -tlsalpn01 '' \
    -dns01 "127.0.0.1:$dns" -management "127.0.0.1:$dns_mgmt" >"$dir/challtestsrv.log" 2>&1 &
  local challenges=$!
  PEBBLE_VA_NOSLEEP=1 pebble -config "$dir/pebble.json" -dnsserver "127.0.0.1:$dns" >"$dir/pebble.log" 2>&1 &
  local ca=$!
  for i in $(seq 1 100); do
    curl -fsS --cacert "$dir/cert.pem" "https://127.0.0.1:$mgmt/roots/0" -o "$dir/root.pem" 2>/dev/null && break
    [ "$i" = 100 ] && { echo "Pebble did not answer: $(tail -n 5 "$dir/pebble.log")" >&2; exit 1; }
    sleep 0.2
  done
  cat >"$dir/pebble.env" <<EOF
PEBBLE_DIRECTORY=https://127.0.0.1:$acme/dir
PEBBLE_SERVER_CERT=$dir/cert.pem
PEBBLE_ROOT=$dir/root.pem
PEBBLE_PIDS="$ca $challenges"
EOF
}

stop() {
  local dir="$1"
  [ -f "$dir/pebble.env" ] || return 0
  # shellcheck disable=SC1091
  . "$dir/pebble.env"
  # shellcheck disable=SC2086 # one word per pid
  kill $PEBBLE_PIDS 2>/dev/null || true
}

case "${1:-}" in
  start) start "$2" "$3" "$4" ;;
  stop) stop "$2" ;;
  *) echo "usage: $0 start DIR HTTP_PORT HTTPS_PORT | stop DIR" >&2; exit 64 ;;
esac
