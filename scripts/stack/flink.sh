#!/usr/bin/env bash
# Local standalone Flink cluster from the venv's pip distribution:
#   flink.sh {start|stop|status|taskmanager|scale N|restart-taskmanagers}
# FLINK_TASKMANAGERS (default 1) TaskManagers of 2 slots each; `scale N` changes the count of a running
# cluster. A watchdog keeps that many alive (kill -9, or Flink's own fatal-error exit, e.g. when the
# JDBC sink fails to close during a PostgreSQL outage), and restarts one whose embedded Python can
# no longer start (wedged_tms): what a process supervisor and a liveness probe do in prod.
# Config rendered from flink-conf/ into .run/flink/conf; logs .run/flink/log; REST on 127.0.0.1:$FLINK_REST_PORT (8081).
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$STACK/flink-env.sh"

flink_pids() { cat "$FLINK_PID_DIR"/*.pid 2>/dev/null | while read -r p; do is_ours "$p" org.apache.flink && echo "$p"; done; true; }
overview() { curl -sf --max-time 2 "http://127.0.0.1:$REST_PORT/overview"; }
# prints "TMs slots-total slots-free" from /overview
WATCHDOG_PID="$FDIR/watchdog.pid"
WANT_TMS="$FDIR/taskmanagers"   # how many TaskManagers the watchdog keeps alive
tm_pids() { local p; for p in $(cat "$FLINK_PID_DIR"/*taskexecutor*.pid 2>/dev/null); do is_ours "$p" TaskManagerRunner && echo "$p"; done; true; }
tm_count() { tm_pids | wc -l; }
want_tms() { cat "$WANT_TMS" 2>/dev/null || echo 1; }
jm_alive() { local p; for p in $(cat "$FLINK_PID_DIR"/*standalonesession*.pid 2>/dev/null); do is_ours "$p" org.apache.flink && return 0; done; return 1; }
slots() { overview | python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["taskmanagers"], o["slots-total"], o["slots-available"])'; }

start() {
  local need_free=1   # a fresh cluster must offer free slots; a running one may be busy with jobs
  local orphans
  if orphans="$(flink_pids | xargs)" && [[ -n "$orphans" ]] && ! jm_alive; then
    # The JobManager died (kill -9, OOM) and took the cluster's jobs with it: its TaskManagers
    # serve nobody. Stop them by their verified PIDs (never a stale PID file's) and start afresh;
    # scripts/stack/recover.sh then resumes the job from its last checkpoint.
    log "the JobManager is gone; stopping its TaskManagers (pids $orphans) for a fresh start"
    stop_pid "$WATCHDOG_PID" "taskmanager watchdog" 10 "flink.sh watchdog"
    # shellcheck disable=SC2086  # one argument per PID
    terminate flink 40 $orphans
    rm -f "$FLINK_PID_DIR"/*.pid
  fi
  if [[ -n "$(flink_pids)" ]]; then log "already running (pids $(flink_pids | xargs))"; need_free=0
  else
    local p lo hi
    IFS=- read -r lo hi <<<"$PROM_PORTS"
    for p in "$REST_PORT" 6123 $(seq "$lo" "${hi:-$lo}"); do
      port_open "$p" && die "port $p is already in use by another process: $(ss -ltnpH "sport = :$p" | awk '{print $NF}' | head -1) (FLINK_REST_PORT / FLINK_PROM_PORTS)"
    done
    render_flink_dirs
    rm -f "$FLINK_PID_DIR"/*.pid
    echo "${FLINK_TASKMANAGERS:-1}" >"$WANT_TMS"
    log "starting cluster (conf: $FLINK_CONF_DIR, logs: $FLINK_LOG_DIR)"
    "$FLINK_BIN/start-cluster.sh" >"$FLINK_LOG_DIR/start-cluster.out" 2>&1 || { cat "$FLINK_LOG_DIR/start-cluster.out" >&2; die "start-cluster.sh failed"; }
    while (($(tm_count) < $(want_tms))); do taskmanager; done
  fi
  pid_alive "$WATCHDOG_PID" "flink.sh watchdog" || {
    nohup "$STACK/flink.sh" watchdog >>"$FLINK_LOG_DIR/watchdog.log" 2>&1 &
    echo $! >"$WATCHDOG_PID"
  }
  local deadline=$((SECONDS + ${FLINK_START_TIMEOUT:-120})) s=""
  until s="$(slots 2>/dev/null)" && read -r tms total free <<<"$s" && ((tms >= $(want_tms) && free >= need_free)); do
    ((SECONDS < deadline)) || { tail -30 "$FLINK_LOG_DIR"/*.log >&2 2>/dev/null; die "no TaskManager with free slots after ${FLINK_START_TIMEOUT:-120}s (got: ${s:-no REST answer})"; }
    sleep 0.5
  done
  log "flink up (pids $(flink_pids | xargs)): http://127.0.0.1:$REST_PORT taskmanagers=$tms slots=$total free=$free"
}

stop() {
  stop_pid "$WATCHDOG_PID" "taskmanager watchdog" 10 "flink.sh watchdog"
  local pids; pids="$(flink_pids | xargs)"
  if [[ -z "$pids" ]]; then log "flink not running"; rm -f "$FLINK_PID_DIR"/*.pid; return 0; fi
  # TERM to the PIDs verified as ours, 40 s to shut down gracefully, then KILL. Not Flink's
  # stop-cluster.sh: it signals whatever PID its files name, and after a kill -9 that PID may
  # belong to another process by now.
  # shellcheck disable=SC2086  # one argument per PID
  terminate flink 40 $pids
  rm -f "$FLINK_PID_DIR"/*.pid
  log "flink stopped (pids $pids)"
}

status() {
  local s
  if [[ -n "$(flink_pids)" ]] && s="$(slots 2>/dev/null)"; then
    read -r tms total free <<<"$s"; log "running (pids $(flink_pids | xargs)) taskmanagers=$tms slots=$total free=$free"
  elif [[ -n "$(flink_pids)" ]]; then log "pids $(flink_pids | xargs) alive but REST not answering"; return 1
  else log "stopped"; return 3; fi
}

# Start TaskManagers until the wanted count runs (e.g. after one died): the job resumes from its
# last completed checkpoint once the new slots register.
taskmanager() {
  jm_alive || die "flink is not running"
  exec 9>"$FDIR/taskmanager.lock"
  flock 9   # the watchdog and an operator may both try
  local n; n="$(tm_count)"
  ((n < $(want_tms))) || { log "$n taskmanager(s) running, as wanted"; exec 9>&-; return 0; }
  # 9>&-: the TaskManager JVM must not inherit the lock, or it would hold it for its whole life
  "$FLINK_BIN/taskmanager.sh" start >>"$FLINK_LOG_DIR/taskmanager-start.out" 2>&1 9>&-
  wait_tms $((n + 1))
  log "taskmanager started ($((n + 1)) running)"
  exec 9>&-
}

# wait_tms N: until N TaskManager processes are alive (a just-forked JVM needs a moment to show).
wait_tms() { local i; for ((i = 0; i < 100; i++)); do (($(tm_count) >= $1)) && return 0; sleep 0.2; done; die "taskmanager did not start"; }

# Wait until the JobManager sees exactly N TaskManagers (registered ones, not just processes).
wait_registered() {
  local deadline=$((SECONDS + 120)) s tms total free
  until s="$(slots 2>/dev/null)" && read -r tms total free <<<"$s" && ((tms == $1)); do
    ((SECONDS < deadline)) || die "JobManager sees ${tms:-?} taskmanagers, wanted $1"
    sleep 0.5
  done
}

# scale N: run N TaskManagers (2 slots each). Extra ones stop gracefully; a job on them fails over.
scale() {
  [[ "${1:-}" =~ ^[1-9][0-9]*$ ]] || die "usage: flink.sh scale N (N >= 1)"
  fits_prometheus_ports "$1" || die "$(prometheus_room_message "$1")"
  jm_alive || die "flink is not running"
  echo "$1" >"$WANT_TMS"
  while (($(tm_count) > $1)); do
    "$FLINK_BIN/taskmanager.sh" stop >>"$FLINK_LOG_DIR/taskmanager-start.out" 2>&1
    sleep 1
  done
  while (($(tm_count) < $1)); do taskmanager; done
  wait_registered "$1"
  log "$1 taskmanager(s) running: $(slots)"
}

# restart-taskmanagers: thread-mode TaskManagers keep a job's Python modules loaded after the job
# ends, so a changed job needs fresh TaskManagers (make upgrade does this between stop and submit).
restart_taskmanagers() {
  jm_alive || die "flink is not running"
  local want pids; want="$(want_tms)"
  exec 9>"$FDIR/taskmanager.lock"
  flock 9   # keep the watchdog from starting one while we stop them
  pids="$(tm_pids | xargs)"
  # shellcheck disable=SC2086  # one argument per PID
  [[ -z "$pids" ]] || terminate taskmanager 30 $pids
  : >"$(ls "$FLINK_PID_DIR"/*taskexecutor*.pid 2>/dev/null | head -1 || echo /dev/null)"
  exec 9>&-
  while (($(tm_count) < want)); do taskmanager; done
  wait_registered "$want"
  log "taskmanagers restarted (was: $pids): $(slots)"
}

# TaskManagers whose embedded Python can no longer start. In thread mode the first Python operator
# of a TaskManager starts pemja's main interpreter; if that task is cancelled meanwhile (a job
# restarting in a loop, e.g. its JDBC sink failing during a PostgreSQL outage), pemja's
# MainInterpreter.initialize is interrupted and every later Python task on that JVM fails the
# same way: the job restarts forever on it. Measured: 114 restarts in 17 min, none recovered.
wedged_tms() {
  local p logf
  for p in $(tm_pids); do
    logf="$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | sed -n 's/^-Dlog.file=//p' | head -1)"
    [[ -n "$logf" && -f "$logf" ]] && grep -qF 'PythonInterpreter$MainInterpreter.initialize' "$logf" && echo "$p"
  done
  true
}

watchdog() {
  local p
  while jm_alive; do
    sleep 5
    for p in $(wedged_tms); do
      log "taskmanager $p cannot start Python any more (pemja interrupted while starting), restarting it"
      terminate taskmanager 20 "$p"
    done
    (($(tm_count) < $(want_tms))) && { log "a taskmanager is gone, starting another"; taskmanager || true; }
  done
  log "jobmanager gone, watchdog exits"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  taskmanager) taskmanager ;;
  scale) scale "${2:-}" ;;
  restart-taskmanagers) restart_taskmanagers ;;
  watchdog) watchdog ;;
  *) echo "usage: $0 {start|stop|status|taskmanager|scale N|restart-taskmanagers}" >&2; exit 2 ;;
esac
