#!/usr/bin/env bash
# Start a loopback-only Docker engine and build rehearse-postgres:<major> once (idempotent).
#
# Usage: scripts/docker-up.sh            # engine + rehearse-postgres:15
#        REHEARSE_PG_MAJORS="15" REHEARSE_DOCKER_DIR=/var/tmp/rehearse-docker scripts/docker-up.sh
# Prints `export DOCKER_HOST=...` on its last line; rehearse also finds the socket by itself.
# Stop the engine with scripts/docker-down.sh.
set -euo pipefail

DIR=${REHEARSE_DOCKER_DIR:-/var/tmp/rehearse-docker}
SOCK="$DIR/docker.sock"
export DOCKER_HOST="unix://$SOCK"
HERE=$(cd "$(dirname "$0")/.." && pwd)
MAJORS=${REHEARSE_PG_MAJORS:-15}
log() { echo "docker-up: $*" >&2; }

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

mkdir -p "$DIR"
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (data root $DIR/root)"
  # no iptables/NAT/forwarding: containers use host networking on 127.0.0.1 only
  nohup dockerd --data-root "$DIR/root" --exec-root "$DIR/exec" --pidfile "$DIR/dockerd.pid" \
      -H "$DOCKER_HOST" --iptables=false --ip-masq=false --ip-forward=false \
      >"$DIR/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 150); do
    docker info >/dev/null 2>&1 && break
    sleep 0.2
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see $DIR/dockerd.log"; exit 3; }
fi

if ! docker image inspect base:local >/dev/null 2>&1; then
  log "building base:local with debootstrap (about 30 s)"
  mirror=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
           | grep -v security | head -1 | awk '{print $2}' || true)
  rootfs=$(mktemp -d "$DIR/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}" >"$DIR/debootstrap.log" 2>&1 \
    || { log "debootstrap failed; see $DIR/debootstrap.log"; exit 3; }
  tar -C "$rootfs" -c . | docker import - base:local >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi

for major in $MAJORS; do
  if ! docker image inspect "rehearse-postgres:$major" >/dev/null 2>&1; then
    log "building rehearse-postgres:$major"
    DOCKER_BUILDKIT=0 docker build -q --network host --build-arg "PG_MAJOR=$major" \
      -t "rehearse-postgres:$major" "$HERE/docker/postgres" >/dev/null
  fi
done

echo "export DOCKER_HOST=$DOCKER_HOST"
