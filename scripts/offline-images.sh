#!/usr/bin/env bash
# Build the base images devrun's examples and tests use, from Debian packages,
# for machines that cannot pull from a registry. Idempotent: an image that
# already exists (pulled or built) is left alone.
#   busybox:stable          FROM scratch + busybox-static (sh, nc, httpd, ...)
#   python:3.11-slim        debootstrap minbase bookworm + python3
set -euo pipefail

BUSYBOX_IMAGE="${DEVRUN_BUSYBOX_IMAGE:-busybox:stable}"
PYTHON_IMAGE="${DEVRUN_PYTHON_IMAGE:-python:3.11-slim}"

have() { docker image inspect "$1" >/dev/null 2>&1; }
try_pull() { timeout 20 docker pull -q "$1" >/dev/null 2>&1; }

apt_install() {
  command -v "$1" >/dev/null 2>&1 || [ -e "$2" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$3" >/dev/null || {
      apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$3" >/dev/null; }
  else
    echo "offline-images: need the Debian package $3 (run as root with apt)" >&2; exit 1
  fi
}

debian_mirror() {
  local m
  m=$(grep -hoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}') || true
  [ -n "$m" ] || m=$(grep -hoE '^deb +\S+' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $2}') || true
  echo "${m:-http://deb.debian.org/debian}"
}

if have "$BUSYBOX_IMAGE"; then
  echo "offline-images: $BUSYBOX_IMAGE present" >&2
elif try_pull "$BUSYBOX_IMAGE"; then
  echo "offline-images: pulled $BUSYBOX_IMAGE" >&2
else
  echo "offline-images: building $BUSYBOX_IMAGE from busybox-static" >&2
  apt_install busybox /bin/busybox busybox-static
  ctx=$(mktemp -d)
  cp "$(readlink -f /bin/busybox)" "$ctx/busybox"
  cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp /usr/bin /usr/sbin /sbin /var/www /etc && chmod 1777 /tmp && \
    echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'root:x:0:' > /etc/group && \
    ln -s /bin/env /usr/bin/env
CMD ["sh"]
DOCKERFILE
  docker build -q -t "$BUSYBOX_IMAGE" "$ctx" >/dev/null
  rm -rf "$ctx"
fi

if have "$PYTHON_IMAGE"; then
  echo "offline-images: $PYTHON_IMAGE present" >&2
elif try_pull "$PYTHON_IMAGE"; then
  echo "offline-images: pulled $PYTHON_IMAGE" >&2
else
  echo "offline-images: building $PYTHON_IMAGE with debootstrap (about a minute)" >&2
  apt_install debootstrap /usr/sbin/debootstrap debootstrap
  root=$(mktemp -d)
  debootstrap --variant=minbase --include=python3 bookworm "$root" "$(debian_mirror)" >/tmp/devrun-debootstrap.log 2>&1 || {
    echo "offline-images: debootstrap failed; see /tmp/devrun-debootstrap.log" >&2; exit 1; }
  ln -sf python3 "$root/usr/bin/python"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import -c 'CMD ["python3"]' -c 'ENV LANG=C.UTF-8' - "$PYTHON_IMAGE" >/dev/null
  rm -rf "$root"
fi
