#!/usr/bin/env bash
# A "remote" Docker engine on this machine, for devrun's remote-engine tests.
#
#   remote-engine.sh start [--quiet]  start it (idempotent), then print its facts as `env` does
#   remote-engine.sh stop [--purge]   stop it and remove everything it made (--purge: its images too)
#   remote-engine.sh env              KEY=VALUE facts for tests and shells: eval "$(remote-engine.sh env)"
#   remote-engine.sh status           exit 0 when every part answers
#   remote-engine.sh link down|up     cut this machine's link to the box (every connection
#                                     through it ends, new ones are refused), then restore it
#
# The "remote box" is a network namespace plus a mount namespace:
#   - a second dockerd (own data root, exec root, pidfile, daemon.json, socket,
#     containerd and default bridge, all inside the namespaces), which does not
#     see the repository, /tmp, /home or /root: they are empty tmpfs there;
#   - an sshd beside it (Debian openssh-server) with a key generated here, so
#     ssh:// is real: `docker system dial-stdio` on the far side reaches the second
#     engine at the standard /var/run/docker.sock of the remote box;
#   - a plain link (veth, 10.197.0.2) and a shaped link (10.197.1.2: 25 ms each way,
#     20 Mbit/s each way; tc netem when the kernel has it, else a user-space delay line);
#   - loopback forwarders: tcp://127.0.0.1:23750 -> engine, 127.0.0.1:22220 -> sshd;
#   - a `docker context` (devrun-remote-test, tcp; devrun-remote-test-ssh, ssh) and a
#     host block in ~/.ssh/config + known_hosts lines, so ssh:// works without prompts
#     for the docker CLI and for docker-py (paramiko or the ssh client).
# Published ports of its containers answer at the remote box's address (10.197.0.2:PORT),
# never on this machine's 127.0.0.1, as on a real remote machine.
# Every sshd connection is logged in $STATE/sshd.log ("Accepted publickey"): tests count them.
#
# Settings (environment): DEVRUN_REMOTE_STATE (/var/lib/devrun-remote), DEVRUN_REMOTE_NETNS
# (devrun-remote), DEVRUN_REMOTE_NET (10.197: uses 10.197.0.0/30 and 10.197.1.0/30),
# DEVRUN_REMOTE_TCP_PORT (23750), DEVRUN_REMOTE_SSH_PORT (22220), DEVRUN_REMOTE_HIDE (extra
# folders to hide, colon-separated), DEVRUN_REMOTE_IMAGES (images copied from the local
# engine), DEVRUN_REMOTE_DELAY_MS (25, one way), DEVRUN_REMOTE_RATE_MBIT (20),
# DEVRUN_REMOTE_SSH_MAXSTARTUPS (10:30:100, sshd's default), DEVRUN_REMOTE_LINK (auto|netem|delayline),
# DEVRUN_REMOTE_CONTEXT (devrun-remote-test; the ssh one gets -ssh appended). Two beds can run
# side by side when STATE, NETNS, NET, both ports and CONTEXT differ.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd -P)"
repo="$(cd "$here/.." && pwd -P)"
STATE="${DEVRUN_REMOTE_STATE:-/var/lib/devrun-remote}"
NS="${DEVRUN_REMOTE_NETNS:-devrun-remote}"
NET="${DEVRUN_REMOTE_NET:-10.197}"
TCP_PORT="${DEVRUN_REMOTE_TCP_PORT:-23750}"
SSH_PORT="${DEVRUN_REMOTE_SSH_PORT:-22220}"
DELAY_MS="${DEVRUN_REMOTE_DELAY_MS:-25}"
RATE_MBIT="${DEVRUN_REMOTE_RATE_MBIT:-20}"
LINK_MODE="${DEVRUN_REMOTE_LINK:-auto}"
IMAGES="${DEVRUN_REMOTE_IMAGES:-${DEVRUN_BUSYBOX_IMAGE:-busybox:stable} ${DEVRUN_PYTHON_IMAGE:-python:3.11-slim}}"
CONTEXT="${DEVRUN_REMOTE_CONTEXT:-devrun-remote-test}"
CONTEXT_SSH="$CONTEXT-ssh"
PLAIN_HOST="$NET.0.1" PLAIN_REMOTE="$NET.0.2"
SHAPED_HOST="$NET.1.1" SHAPED_REMOTE="$NET.1.2"
IF_PLAIN="dvr${NET##*.}p" IF_SHAPED="dvr${NET##*.}s"  # host side (one pair per NET); inside: eth0, eth1
SOCK="$STATE/docker.sock"
MARK="devrun-remote-bed:$NS"      # tags our lines in ~/.ssh/config and ~/.ssh/known_hosts
ENGINE_PORT=2375                  # inside the namespace

say() { [ "${QUIET:-0}" = 1 ] || echo "remote-engine: $*" >&2; }
die() { echo "remote-engine: $*" >&2; exit 1; }
rdocker() { docker -H "unix://$SOCK" "$@"; }
running() {  # pid: alive and not a zombie (this machine's init may reap late)
  local st; st="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)"
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
alive() { [ -s "$1" ] && running "$(cat "$1")"; }
python3_bin() { [ -x /usr/bin/python3 ] && echo /usr/bin/python3 && return; command -v python3 || die "python3 is needed for the link helpers"; }

need_tools() {
  [ "$(id -u)" = 0 ] || die "needs root (network and mount namespaces, a second dockerd)"
  local t
  for t in dockerd docker ip unshare nsenter ssh ssh-keygen; do
    command -v "$t" >/dev/null 2>&1 || die "needs $t (Debian: docker.io, iproute2, util-linux, openssh-client)"
  done
  if [ ! -x /usr/sbin/sshd ]; then
    command -v apt-get >/dev/null 2>&1 || die "needs sshd (Debian package openssh-server)"
    say "installing openssh-server from Debian packages"
    local guard=0
    # keep the package from starting a system sshd on port 22 (no service is wanted here)
    if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; guard=1; fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq openssh-server >/dev/null 2>&1 || { apt-get update -qq >/dev/null; apt-get install -y -qq openssh-server >/dev/null; }
    [ "$guard" = 1 ] && rm -f /usr/sbin/policy-rc.d
  fi
}

# Folders the remote box must not see: this repository (its top folder when that is
# not a system folder), temp folders, home folders, and DEVRUN_REMOTE_HIDE.
hidden_dirs() {
  local top; top="/$(echo "$repo" | cut -d/ -f2)"
  case "$top" in
    /usr|/var|/etc|/lib|/lib64|/bin|/sbin|/sys|/proc|/dev|/run|/boot|/opt) top="$repo" ;;
  esac
  local d extra=()
  IFS=: read -r -a extra <<<"${DEVRUN_REMOTE_HIDE:-}"
  for d in /tmp /var/tmp /home /root /mnt /media /srv "$top" ${TMPDIR:+"$TMPDIR"} "${extra[@]}"; do
    [ -n "$d" ] && [ -d "$d" ] && echo "$d"
  done | sort -u
}

write_config() {
  mkdir -p "$STATE" && chmod 0755 "$STATE"
  [ -s "$STATE/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "$MARK" -f "$STATE/id_ed25519"
  [ -s "$STATE/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "$MARK" -f "$STATE/ssh_host_ed25519_key"
  cp "$STATE/id_ed25519.pub" "$STATE/authorized_keys" && chmod 0600 "$STATE/authorized_keys"
  cat >"$STATE/sshd_config" <<EOF
# the remote box's sshd (scripts/remote-engine.sh); it runs inside the namespaces
Port 22
ListenAddress 0.0.0.0
HostKey $STATE/ssh_host_ed25519_key
PidFile $STATE/sshd.pid
AuthorizedKeysFile $STATE/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
MaxStartups ${DEVRUN_REMOTE_SSH_MAXSTARTUPS:-10:30:100}
LogLevel INFO
Subsystem sftp internal-sftp
EOF
  echo '{}' >"$STATE/daemon.json"  # not the machine's /etc/docker/daemon.json
  mkdir -p "$STATE/etc-docker" && chmod 0700 "$STATE/etc-docker"
}

# ---------------------------------------------------------------- ssh client side
ssh_client_config() {
  mkdir -p ~/.ssh && chmod 0700 ~/.ssh
  remove_ssh_client_config
  local key host_pub
  key="$STATE/id_ed25519"
  host_pub="$(cut -d' ' -f1,2 "$STATE/ssh_host_ed25519_key.pub")"
  # Prepended, so it wins over any `Host *` below it; paramiko (docker-py) reads this
  # file too but not Include, hence a block in the file itself.
  {
    echo "# >>> $MARK (scripts/remote-engine.sh; removed by its stop) >>>"
    echo "Host 127.0.0.1 $PLAIN_REMOTE $SHAPED_REMOTE"
    echo "    IdentityFile $key"
    echo "# <<< $MARK <<<"
    [ -f ~/.ssh/config ] && cat ~/.ssh/config
  } >~/.ssh/config.devrun-new
  mv ~/.ssh/config.devrun-new ~/.ssh/config && chmod 0600 ~/.ssh/config
  {
    echo "[127.0.0.1]:$SSH_PORT $host_pub $MARK"
    echo "$PLAIN_REMOTE $host_pub $MARK"
    echo "$SHAPED_REMOTE $host_pub $MARK"
  } >>~/.ssh/known_hosts
  chmod 0600 ~/.ssh/known_hosts
}

remove_ssh_client_config() {
  if [ -f ~/.ssh/config ] && grep -q "$MARK" ~/.ssh/config; then
    sed -i "/^# >>> $MARK/,/^# <<< $MARK/d" ~/.ssh/config
  fi
  if [ -f ~/.ssh/known_hosts ] && grep -q " $MARK\$" ~/.ssh/known_hosts; then
    sed -i "/ $MARK\$/d" ~/.ssh/known_hosts
  fi
  local f
  for f in ~/.ssh/config ~/.ssh/known_hosts; do [ -f "$f" ] && [ ! -s "$f" ] && rm -f "$f"; done
  return 0
}

contexts() {
  docker context rm -f "$CONTEXT" "$CONTEXT_SSH" >/dev/null 2>&1 || true
  docker context create "$CONTEXT" --description "$MARK: tcp" --docker "host=tcp://127.0.0.1:$TCP_PORT" >/dev/null 2>&1 ||
    die "docker context create $CONTEXT failed"
  docker context create "$CONTEXT_SSH" --description "$MARK: ssh" --docker "host=ssh://root@127.0.0.1:$SSH_PORT" >/dev/null 2>&1 ||
    die "docker context create $CONTEXT_SSH failed"
}

# ---------------------------------------------------------------- the namespaces
netns_up() {
  ip netns del "$NS" 2>/dev/null || true
  ip link del "$IF_PLAIN" 2>/dev/null || true
  ip route del unreachable "$NET.0.0/16" metric 4242 2>/dev/null || true
  if ip -4 route | grep -q "^$NET\."; then
    die "$NET.0.0/16 is already routed on this machine (ip -4 route); set DEVRUN_REMOTE_NET to a free 10.x prefix"
  fi
  ip netns add "$NS"
  # while the box runs, its addresses never leave this machine: should a link vanish,
  # packets for them are refused here instead of following the default route
  ip route add unreachable "$NET.0.0/16" metric 4242
  ip -n "$NS" link set lo up
  ip link add "$IF_PLAIN" type veth peer name eth0 netns "$NS"
  ip addr add "$PLAIN_HOST/30" dev "$IF_PLAIN"
  ip -n "$NS" addr add "$PLAIN_REMOTE/30" dev eth0
  ip link set "$IF_PLAIN" up
  ip -n "$NS" link set eth0 up
}

shaped_up() {
  local mode="$LINK_MODE"
  ip link del "$IF_SHAPED" 2>/dev/null || true
  if [ "$mode" = auto ] || [ "$mode" = netem ]; then
    ip link add "$IF_SHAPED" type veth peer name eth1 netns "$NS"
    if tc qdisc add dev "$IF_SHAPED" root netem delay "${DELAY_MS}ms" rate "${RATE_MBIT}mbit" 2>/dev/null &&
       ip netns exec "$NS" tc qdisc add dev eth1 root netem delay "${DELAY_MS}ms" rate "${RATE_MBIT}mbit" 2>/dev/null; then
      mode=netem
    else
      [ "$mode" = netem ] && die "this kernel has no sch_netem (tc qdisc ... netem); DEVRUN_REMOTE_LINK=delayline works without it"
      ip link del "$IF_SHAPED" 2>/dev/null || true
      mode=delayline
    fi
  fi
  if [ "$mode" = delayline ]; then
    ip tuntap add dev "$IF_SHAPED" mode tun
    ip -n "$NS" tuntap add dev eth1 mode tun
    nohup "$(python3_bin)" "$here/remote-engine-link.py" delayline "$IF_SHAPED" "$NS" eth1 "$DELAY_MS" "$RATE_MBIT" \
      </dev/null >>"$STATE/link.log" 2>&1 9>&- &
    echo $! >"$STATE/delayline.pid"
  fi
  ip addr add "$SHAPED_HOST" peer "$SHAPED_REMOTE" dev "$IF_SHAPED"
  ip -n "$NS" addr add "$SHAPED_REMOTE" peer "$SHAPED_HOST" dev eth1
  ip link set "$IF_SHAPED" up
  ip -n "$NS" link set eth1 up
  echo "$mode" >"$STATE/link.mode"
}

# Runs inside the new mount namespace (and the network namespace): hide the host's
# folders, give the box its own /run, then become the second dockerd.
inside() {
  set -eu
  mount -t tmpfs -o mode=0755 devrun-remote-run /run
  # sysfs as seen from this network namespace, keeping the cgroup mounts dockerd needs
  mkdir /run/.sys && mount --rbind /sys /run/.sys
  mount -t sysfs sysfs /sys
  mount --rbind /run/.sys/fs/cgroup /sys/fs/cgroup
  umount -l /run/.sys && rmdir /run/.sys
  local d
  for d in $HIDE; do
    case "$d" in
      /tmp|/var/tmp) mount -t tmpfs -o mode=1777 devrun-remote-hidden "$d" ;;
      *) mount -t tmpfs -o mode=0755 devrun-remote-hidden "$d" ;;
    esac
  done
  # its own /etc/docker: key.json there is the engine's ID on dockerd 20.10, which
  # must differ from this machine's engine (kept in the state folder: stable across starts)
  mkdir -p /etc/docker && mount --bind "$STATE/etc-docker" /etc/docker
  hostname "$NS"
  mkdir -p /run/sshd /root && chmod 0700 /root
  /usr/sbin/sshd -f "$STATE/sshd_config" -E "$STATE/sshd.log"
  exec dockerd --config-file "$STATE/daemon.json" \
    -H unix:///run/docker.sock -H "unix://$SOCK" -H "tcp://0.0.0.0:$ENGINE_PORT" --tls=false \
    --data-root "$STATE/data" --exec-root /run/docker --pidfile "$STATE/dockerd.pid" \
    --shutdown-timeout 2
}

wait_for() {  # seconds, command...
  local n=$(( $1 * 20 )); shift
  while ! "$@" >/dev/null 2>&1; do
    n=$((n - 1)); [ "$n" -gt 0 ] || return 1
    sleep 0.05
  done
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

load_images() {
  local img want have missing=()
  for img in $IMAGES; do
    want="$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null)" || die "the local engine has no $img (run scripts/setup.sh)"
    have="$(rdocker image inspect -f '{{.Id}}' "$img" 2>/dev/null || true)"
    [ "$want" = "$have" ] || missing+=("$img")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "copying ${missing[*]} to the remote engine"
    docker save "${missing[@]}" | rdocker load -q >/dev/null
  fi
}

status() {
  alive "$STATE/dockerd.pid" && alive "$STATE/sshd.pid" && alive "$STATE/forward.pid" || return 1
  if [ -f "$STATE/link.mode" ] && [ "$(cat "$STATE/link.mode")" = delayline ]; then alive "$STATE/delayline.pid" || return 1; fi
  docker -H "tcp://127.0.0.1:$TCP_PORT" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

print_env() {
  cat <<EOF
DEVRUN_REMOTE_TCP=tcp://127.0.0.1:$TCP_PORT
DEVRUN_REMOTE_SSH=ssh://root@127.0.0.1:$SSH_PORT
DEVRUN_REMOTE_SOCKET=unix://$SOCK
DEVRUN_REMOTE_CONTEXT=$CONTEXT
DEVRUN_REMOTE_CONTEXT_SSH=$CONTEXT_SSH
DEVRUN_REMOTE_ADDR=$PLAIN_REMOTE
DEVRUN_REMOTE_SHAPED_ADDR=$SHAPED_REMOTE
DEVRUN_REMOTE_SHAPED_TCP=tcp://$SHAPED_REMOTE:$ENGINE_PORT
DEVRUN_REMOTE_SHAPED_SSH=ssh://root@$SHAPED_REMOTE
DEVRUN_REMOTE_LINK=$(cat "$STATE/link.mode" 2>/dev/null || echo none)
DEVRUN_REMOTE_SSH_KEY=$STATE/id_ed25519
DEVRUN_REMOTE_SSHD_LOG=$STATE/sshd.log
DEVRUN_REMOTE_HIDDEN=$(hidden_dirs | paste -sd: -)
DEVRUN_REMOTE_STATE=$STATE
EOF
}

# Every process in the remote box's mount namespace (dockerd, containerd, shims,
# containers, sshd and its sessions) was started by this script.
box_pids() {
  local ns p
  ns="$(cat "$STATE/mntns" 2>/dev/null)" || return 0
  [ -n "$ns" ] || return 0
  ns="${ns//[/\\[}"; ns="${ns//]/\\]}"  # a -lname pattern: brackets are literal
  find /proc/[0-9]*/ns/mnt -maxdepth 0 -lname "$ns" 2>/dev/null | cut -d/ -f3
  return 0
}

kill_pidfile() {  # pidfile [seconds]
  alive "$1" || { rm -f "$1"; return 0; }
  local pid; pid="$(cat "$1")"
  kill "$pid" 2>/dev/null || true
  local n=$(( ${2:-5} * 20 ))
  while running "$pid" && [ "$n" -gt 0 ]; do sleep 0.05; n=$((n - 1)); done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$1"
}

do_stop() {
  local purge="${1:-}"
  docker context rm -f "$CONTEXT" "$CONTEXT_SSH" >/dev/null 2>&1 || true
  remove_ssh_client_config
  kill_pidfile "$STATE/forward.pid" 2
  if alive "$STATE/dockerd.pid"; then
    # containers first, so that the daemon stops quickly
    timeout 10 docker -H "unix://$SOCK" ps -aq 2>/dev/null | xargs -r timeout 20 docker -H "unix://$SOCK" rm -f >/dev/null 2>&1 || true
  fi
  kill_pidfile "$STATE/sshd.pid" 2
  kill_pidfile "$STATE/dockerd.pid" 10
  local pids
  pids="$(box_pids)"
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
  fi
  rm -f "$STATE/mntns"
  kill_pidfile "$STATE/reaper.pid" 2
  kill_pidfile "$STATE/delayline.pid" 2
  ip link del "$IF_SHAPED" 2>/dev/null || true
  ip link del "$IF_PLAIN" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  ip route del unreachable "$NET.0.0/16" metric 4242 2>/dev/null || true
  rm -f "$SOCK" "$STATE/link.mode"
  if [ "$purge" = --purge ]; then rm -rf "$STATE"; fi
}

# The loopback forwarders are this machine's link to the box: `link down` cuts every
# connection through them and refuses new ones (a dropped link), `link up` restores it.
forward_up() {
  alive "$STATE/forward.pid" && return 0
  nohup "$(python3_bin)" "$here/remote-engine-link.py" forward \
    "127.0.0.1:$TCP_PORT=$PLAIN_REMOTE:$ENGINE_PORT@$IF_PLAIN" "127.0.0.1:$SSH_PORT=$PLAIN_REMOTE:22@$IF_PLAIN" \
    </dev/null >>"$STATE/link.log" 2>&1 9>&- &
  echo $! >"$STATE/forward.pid"
  wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$TCP_PORT" || die "the forwarder did not listen (log: $STATE/link.log)"
}

do_start() {
  need_tools
  if status; then
    say "already running"
    ssh_client_config
    contexts
    return 0
  fi
  local t0=$SECONDS
  do_stop
  port_free "$TCP_PORT" || die "127.0.0.1:$TCP_PORT is taken; set DEVRUN_REMOTE_TCP_PORT"
  port_free "$SSH_PORT" || die "127.0.0.1:$SSH_PORT is taken; set DEVRUN_REMOTE_SSH_PORT"
  case "$STATE/" in
    /tmp/*|/var/tmp/*|/home/*|/root/*|"$repo"/*) die "DEVRUN_REMOTE_STATE ($STATE) must not be inside a folder the remote box hides" ;;
  esac
  write_config
  : >"$STATE/sshd.log"
  netns_up
  shaped_up
  HIDE="$(hidden_dirs | tr '\n' ' ')"
  export HIDE STATE SOCK ENGINE_PORT NS
  # the reaper stays outside (python3 may live under a hidden folder); the box's
  # orphans (containerd shims, sshd and its sessions) are its children, not init's
  nohup "$(python3_bin)" "$here/remote-engine-link.py" reap \
    nsenter --net="/run/netns/$NS" unshare --mount --uts --propagation private -- \
    bash -c "$(declare -f inside); inside" </dev/null >>"$STATE/dockerd.log" 2>&1 9>&- &
  echo $! >"$STATE/reaper.pid"
  if ! wait_for 30 rdocker version --format '{{.Server.Version}}'; then
    tail -n 20 "$STATE/dockerd.log" >&2
    do_stop
    die "the second dockerd did not answer within 30 s (log above: $STATE/dockerd.log)"
  fi
  readlink "/proc/$(cat "$STATE/dockerd.pid")/ns/mnt" >"$STATE/mntns"
  forward_up
  # a fresh box: nothing left from an earlier run (images stay, so start stays quick)
  rdocker ps -aq | xargs -r rdocker rm -f >/dev/null
  rdocker network prune -f >/dev/null
  rdocker volume prune -f >/dev/null
  load_images
  ssh_client_config
  contexts
  wait_for 10 docker -H "tcp://127.0.0.1:$TCP_PORT" version || die "tcp://127.0.0.1:$TCP_PORT does not answer (log: $STATE/link.log)"
  wait_for 10 ssh -o BatchMode=yes -p "$SSH_PORT" root@127.0.0.1 true || die "sshd does not answer on 127.0.0.1:$SSH_PORT (log: $STATE/sshd.log)"
  say "started in $((SECONDS - t0)) s ($(cat "$STATE/link.mode") shaped link)"
}

cmd="${1:-}"; shift || true
case "$cmd" in
  start)
    [ "${1:-}" = --quiet ] && QUIET=1
    mkdir -p "$STATE"
    exec 9>"$STATE/.lock"; flock 9
    do_start
    print_env
    ;;
  stop)
    [ -d "$STATE" ] || exit 0
    exec 9>"$STATE/.lock"; flock 9
    do_stop "${1:-}"
    ;;
  env) print_env ;;
  status) status ;;
  link)
    case "${1:-}" in
      down) kill_pidfile "$STATE/forward.pid" 2 ;;
      up) forward_up ;;
      *) die "usage: remote-engine.sh link down|up" ;;
    esac
    ;;
  *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
