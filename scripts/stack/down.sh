#!/usr/bin/env bash
# Stop the local real stack (Flink, Kafka, PostgreSQL) and verify by PID that none of its processes is left (idempotent).
set -euo pipefail
source "$(dirname "$0")/common.sh"
one_at_a_time "$@"
# every PID the stack recorded, read before stopping
pids="$( { cat "$RUN"/flink/pid/*.pid "$RUN/kafka/kafka.pid"; head -1 "$RUN/pg/data/postmaster.pid"; } 2>/dev/null | xargs || true)"
"$STACK/flink.sh" stop
"$STACK/kafka.sh" stop
"$STACK/postgres.sh" stop
left=""
for p in $pids; do kill -0 "$p" 2>/dev/null && left+=" $p"; done
if [[ -n "$left" ]]; then ps -o pid,args -p "${left// /,}" >&2 || true; die "processes still running:$left"; fi
log "stack down; none of the recorded pids (${pids:-none}) is running"
