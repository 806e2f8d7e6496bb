# Shared helpers for scripts/stack/*.sh (sourced, not executed).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN="$ROOT/.run"
JARS="$ROOT/.jars"
STACK="$ROOT/scripts/stack"

# one_at_a_time "$@": re-run the calling script holding .run/stack.lock, so that `make up` and
# `make down` from two shells take turns instead of racing for the same ports, pid files and data
# folders. flock -o holds the lock in flock's own process: the services started never inherit it.
one_at_a_time() {
  if [[ -n "${DRIVERPAY_STACK_LOCKED:-}" ]]; then unset DRIVERPAY_STACK_LOCKED; return 0; fi  # not for the services
  mkdir -p "$RUN"
  exec env DRIVERPAY_STACK_LOCKED=1 flock -o "$RUN/stack.lock" "$BASH" "$0" "$@"
}

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# is_ours PID [PATTERN] -> 0 if PID is alive (and its command line contains PATTERN: guards against PID reuse)
is_ours() {
  kill -0 "$1" 2>/dev/null || return 1
  [[ -z "${2:-}" || "$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" == *"$2"* ]]
}
# pid_alive FILE [PATTERN] -> 0 if the first line of FILE is such a PID
pid_alive() { [[ -s "$1" ]] && is_ours "$(head -1 "$1")" "${2:-}"; }

# port_open PORT -> 0 if something accepts TCP connections on 127.0.0.1:PORT
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# terminate NAME TIMEOUT PID...: TERM each PID, wait up to TIMEOUT s for all to exit, KILL the rest
terminate() {
  local name="$1" t="$2" pid i left; shift 2
  kill "$@" 2>/dev/null || true
  for ((i = 0; i < t * 5; i++)); do
    left=0; for pid in "$@"; do kill -0 "$pid" 2>/dev/null && left=1; done
    ((left)) || return 0
    sleep 0.2
  done
  for pid in "$@"; do
    kill -0 "$pid" 2>/dev/null || continue
    log "$name (pid $pid) ignored TERM for ${t}s, killing"; kill -9 "$pid" 2>/dev/null || true
  done
  sleep 0.5
}

# stop_pid FILE NAME [TIMEOUT] [PATTERN]: TERM the PID in FILE, wait, KILL if needed, remove FILE
stop_pid() {
  local f="$1" name="$2" t="${3:-30}" pid
  if ! pid_alive "$f" "${4:-}"; then rm -f "$f"; log "$name not running"; return 0; fi
  pid="$(cat "$f")"; terminate "$name" "$t" "$pid"
  rm -f "$f"; log "$name stopped (pid $pid)"
}
