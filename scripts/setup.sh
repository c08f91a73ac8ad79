#!/usr/bin/env bash
# Make this machine ready for devrun's demo, tests and benchmark:
# a Docker engine that answers, and the base images the examples use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

engine_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if ! engine_up; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    if ! command -v dockerd >/dev/null 2>&1; then
      echo "setup: installing docker.io from Debian packages" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null
      apt-get install -y -qq docker.io >/dev/null
    fi
    echo "setup: starting dockerd in the background (log: /var/log/devrun-dockerd.log)" >&2
    nohup dockerd >/var/log/devrun-dockerd.log 2>&1 &
    for _ in $(seq 1 120); do
      engine_up && break
      sleep 0.5
    done
    engine_up || { echo "setup: dockerd did not answer within 60 s; see /var/log/devrun-dockerd.log" >&2; exit 1; }
  else
    echo "setup: no Docker engine answers; install and start Docker (https://docs.docker.com/engine/install/) and run this again" >&2
    exit 1
  fi
fi
echo "setup: Docker engine $(docker version --format '{{.Server.Version}}') is answering" >&2
# the engine-restart fault test gives its private dockerd a bridge of its own with `ip`
if ! command -v ip >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null || true
fi
# the dashboard's browser test (tests/test_dashboard.py) drives Debian's chromium with playwright
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; } || true
fi
"$here/offline-images.sh"
