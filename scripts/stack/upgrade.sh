#!/usr/bin/env bash
# make upgrade: stop the running driverpay job with a savepoint, give it fresh TaskManagers, and
# submit the working tree's job from that savepoint. State carries over through the stable
# operator uids (docs/design.md, "Upgrades and rescaling": which changes are state-compatible).
#   DRIVERPAY_PARALLELISM=P   resume at parallelism P (rescale; default: the running job's);
#                             TaskManagers (2 slots each) follow: ceil(P/2) of them, or
#   DRIVERPAY_TASKMANAGERS=N  N of them; P for one Python interpreter per subtask (thread mode:
#                             a TaskManager's Python operators share one; docs/design.md).
#   $1                        job id (default: the single running driverpay job).
# The other settings are those the job was submitted with, except those this shell sets itself
# (driverpay/job_start.py). Thread-mode TaskManagers keep the old job's Python modules loaded,
# hence the restart in between.
# If the new job cannot take the savepoint, the old code resumes from the printed path with
# `git stash && scripts/stack/submit.sh -s <path>`.
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$STACK/flink-env.sh"
cd "$ROOT"
log "checking the working tree compiles before stopping anything"
"$VENV/bin/python" -m compileall -q jobs udfs >/dev/null || die "the working tree does not compile; nothing stopped"
job="${1:-$(running_job)}"
[[ -n "$job" ]] || die "no single running driverpay job (pass a job id)"
if [[ -z "${DRIVERPAY_PARALLELISM:-}" ]]; then   # keep the running job's parallelism
  DRIVERPAY_PARALLELISM="$(curl -sf --max-time 10 "http://127.0.0.1:$REST_PORT/jobs/$job/config" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["execution-config"]["job-parallelism"])')"
fi
export DRIVERPAY_PARALLELISM
settings="$("$VENV/bin/python" -m driverpay.job_start load "$FDIR")" || die "cannot read the job's settings"
eval "$settings"
[[ "$DRIVERPAY_PARALLELISM" =~ ^[1-9][0-9]*$ ]] || die "DRIVERPAY_PARALLELISM must be a positive integer"
max="$("$VENV/bin/python" -c 'from jobs.settings import MAX_PARALLELISM; print(MAX_PARALLELISM)')"
((DRIVERPAY_PARALLELISM <= max)) || die "parallelism $DRIVERPAY_PARALLELISM exceeds the max parallelism $max"
tms="${DRIVERPAY_TASKMANAGERS:-$(((DRIVERPAY_PARALLELISM + 1) / 2))}"
[[ "$tms" =~ ^[1-9][0-9]*$ ]] || die "DRIVERPAY_TASKMANAGERS must be a positive integer"
fits_prometheus_ports "$tms" || die "$(prometheus_room_message "$tms"); nothing stopped"
savepoint="$("$STACK/savepoint.sh" "$job")"
log "savepoint: $savepoint"
"$STACK/flink.sh" scale "$tms"
"$STACK/flink.sh" restart-taskmanagers
log "submitting the working tree's job from the savepoint"
"$STACK/submit.sh" -s "$savepoint"
