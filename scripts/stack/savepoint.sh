#!/usr/bin/env bash
# Stop the running driverpay job with a savepoint (for upgrades) and print the savepoint path.
# Resume with: scripts/stack/submit.sh -s <path>   (stable operator uids map the state across).
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$STACK/flink-env.sh"
job="${1:-$(running_job)}"
[[ -n "$job" ]] || die "no single running driverpay job (pass a job id)"
out="$("$FLINK_BIN/flink" stop --savepointPath "file://$FDIR/savepoints" "$job" 2>&1)" || { echo "$out" >&2; die "stop with savepoint failed"; }
path="$(grep -o 'Savepoint completed. Path: .*' <<<"$out" | sed 's/Savepoint completed. Path: //')"
[[ -n "$path" ]] || { echo "$out" >&2; die "no savepoint path in flink's answer"; }
# The savepoint completes before the job reaches FINISHED: wait for it, so a submit that follows
# (make upgrade) finds no driverpay job active.
for _ in $(seq 120); do
  state="$(curl -sf --max-time 10 "http://127.0.0.1:$REST_PORT/jobs/$job" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])')" || state=""
  [[ "$state" =~ ^(FINISHED|CANCELED|FAILED)$ ]] && break
  sleep 0.5
done
log "job $job stopped with savepoint"
echo "$path"
