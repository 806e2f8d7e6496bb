#!/usr/bin/env bash
# Resubmit the job from its latest retained checkpoint, after the JobManager (or the whole
# cluster) died: `make up` first, then this. Checkpoints are retained on cancellation and failure;
# only those of jobs submit.sh submitted count, or a newer savepoint (driverpay/restore_point.py).
# Waits until every task of the resumed job runs: a restore that fails is an error, not a job id.
# The job is built with the settings it was last submitted with (group, endpoints, zones, archive,
# parallelism: driverpay/job_start.py), except those this shell sets itself.
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$STACK/flink-env.sh"
latest="$("$VENV/bin/python" -m driverpay.restore_point "$FDIR")" || die "nothing to resume from"
log "resuming from $latest"
settings="$("$VENV/bin/python" -m driverpay.job_start load "$FDIR")" || die "cannot read the job's settings"
eval "$settings"
out="$("$STACK/submit.sh" -s "file://$latest" "$@")"
echo "$out"
job="$(job_id_in "$out")"
[[ -n "$job" ]] || die "no job id in flink's answer"
for _ in $(seq 120); do
  state="$(curl -sf --max-time 10 "http://127.0.0.1:$REST_PORT/jobs/$job" | python3 -c '
import json, sys
job = json.load(sys.stdin)
tasks = {v["status"] for v in job["vertices"]}
print("RUNNING" if job["state"] == "RUNNING" and tasks == {"RUNNING"} else job["state"])')" || state=""
  case "$state" in
    RUNNING) log "job $job runs from $latest"; exit 0 ;;
    FAILED | CANCELED | FINISHED) die "job $job is $state after resuming from $latest (see its exceptions: /jobs/$job/exceptions)" ;;
  esac
  sleep 1
done
die "job $job did not reach RUNNING within 120 s of resuming from $latest"
