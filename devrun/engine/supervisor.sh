# devrun process supervisor (POSIX sh: busybox sh, dash, bash).
# Run as: sh -c SCRIPT devrun-supervisor ARGV...   with `grace=<seconds>` prepended.
# It runs ARGV in its own session so the whole process group can be signalled,
# forwards HUP USR1 QUIT INT WINCH to it, restarts it on USR2, stops it on TERM,
# and exits with the app's exit code. Lines starting with '#' are stripped
# before the script is passed inline.
child=
want_restart=
want_stop=
code=0

# the app writes to the container's stderr (fd 3); the shell's own job notices
# ("Terminated" after each restart) go nowhere
exec 3>&2 2>/dev/null

start_app() {
  if command -v setsid >/dev/null 2>&1; then
    setsid "$@" 2>&3 3>&- &
  else
    "$@" 2>&3 3>&- &
  fi
  child=$!
}

# dash wants `--` before a negative pid, busybox refuses it
group_kill() {
  kill -s "$1" -- "-$child" 2>/dev/null || kill -s "$1" "-$child" 2>/dev/null || kill -s "$1" "$child" 2>/dev/null
}

# TERM the group, KILL it after the grace period; returns once the app is reaped
stop_app() {
  group_kill TERM
  (sleep "$grace"; group_kill KILL) &
  killer=$!
  while :; do
    wait "$child"
    code=$?
    kill -s 0 "$child" 2>/dev/null || break
  done
  kill "$killer" 2>/dev/null
  group_kill KILL
}

forward() { kill -s "$1" "$child" 2>/dev/null; }

trap 'forward HUP' HUP
trap 'forward USR1' USR1
trap 'forward QUIT' QUIT
trap 'forward INT' INT
trap 'forward WINCH' WINCH
trap 'want_restart=1' USR2
trap 'want_stop=1' TERM

# devrun may hold the first start (at most 30 s) while it deletes files in a
# stopped container: the app must never see files deleted on the host
held=0
while [ -e /.devrun-hold ] && [ "$held" -lt 600 ] && [ -z "$want_stop" ]; do
  sleep 0.05 2>/dev/null || sleep 1
  held=$((held + 1))
done
rm -f /.devrun-hold 2>/dev/null
# stopped before the app ever ran: the code a TERM-ed app would give
if [ -n "$want_stop" ]; then
  exit 143
fi

start_app "$@"
while :; do
  if [ -n "$want_stop" ]; then
    stop_app
    exit "$code"
  fi
  if [ -n "$want_restart" ]; then
    want_restart=
    stop_app
    start_app "$@"
    continue
  fi
  wait "$child"
  code=$?
  # a trapped signal interrupts wait with a status >128 while the app lives on
  if [ "$code" -gt 128 ] && kill -s 0 "$child" 2>/dev/null; then
    continue
  fi
  if [ -n "$want_stop$want_restart" ]; then
    continue
  fi
  exit "$code"
done
