#!/usr/bin/env bash
# Stop the engine scripts/docker-up.sh started (by its pid file); images stay for next time.
set -euo pipefail
DIR=${REHEARSE_DOCKER_DIR:-/var/tmp/rehearse-docker}
if [ -s "$DIR/dockerd.pid" ] && kill -0 "$(cat "$DIR/dockerd.pid")" 2>/dev/null; then
  kill -TERM "$(cat "$DIR/dockerd.pid")"
  for _ in $(seq 1 100); do kill -0 "$(cat "$DIR/dockerd.pid" 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done
fi
