#!/usr/bin/env bash
# Stop the running driverpay job with a savepoint (for upgrades) and print the savepoint path.
# Resume with: scripts/stack/submit.sh -s <path>   (stable operator uids map the state across).
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$STACK/flink-env.sh"
job="${1:-$(curl -sf "http://127.0.0.1:$REST_PORT/jobs/overview" | python3 -c '
import json, sys
running = [j["jid"] for j in json.load(sys.stdin)["jobs"] if j["name"] == "driverpay" and j["state"] == "RUNNING"]
print(running[0] if len(running) == 1 else "")')}"
[[ -n "$job" ]] || die "no single running driverpay job (pass a job id)"
out="$("$FLINK_BIN/flink" stop --savepointPath "file://$FDIR/savepoints" "$job" 2>&1)" || { echo "$out" >&2; die "stop with savepoint failed"; }
path="$(grep -o 'Savepoint completed. Path: .*' <<<"$out" | sed 's/Savepoint completed. Path: //')"
[[ -n "$path" ]] || { echo "$out" >&2; die "no savepoint path in flink's answer"; }
log "job $job stopped with savepoint"
echo "$path"
