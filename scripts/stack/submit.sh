#!/usr/bin/env bash
# Submit the streaming job (jobs/kafka_job.py) to the local Flink cluster, detached.
# A new consumer group (DRIVERPAY_GROUP_ID, default "driverpay") starts at the earliest offset.
# Refuses while a driverpay job is running (one job per cluster and topics), and refuses to start
# without state (no -s) on a group that committed offsets: the job would overwrite full day totals
# with partial ones (driverpay/job_start.py). Records the job's settings for recover.sh/upgrade.sh.
# Extra arguments go to `flink run`, e.g. `-s <savepoint>` to resume an upgrade from a savepoint.
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$STACK/flink-env.sh"
curl -sf "http://127.0.0.1:$REST_PORT/overview" >/dev/null || die "Flink is not running: run make up first"
# One job at a time: a second would read every partition again under the same transactional ids,
# commit each pay line twice to pay-ledger, and the two would fence each other's producers.
active="$(active_jobs)" || die "cannot list the cluster's jobs (Flink REST on port $REST_PORT)"
[[ -z "$active" ]] || die "a driverpay job is already running ($active): stop it first (scripts/stack/savepoint.sh <id>), or use make upgrade to replace it"
cd "$ROOT"
restoring=""
for arg in "$@"; do
  case "$arg" in -s | --fromSavepoint | -s=* | --fromSavepoint=*) restoring=1 ;; esac
done
if [[ -z "$restoring" ]]; then
  "$VENV/bin/python" -m driverpay.job_start check-fresh || die "not submitted"
fi
export PYFLINK_CLIENT_EXECUTABLE="$VENV/bin/python"
out="$("$FLINK_BIN/flink" run --detached \
  -Dpipeline.name=driverpay \
  -pyexec "$VENV/bin/python" -pyclientexec "$VENV/bin/python" \
  "$@" -py "$ROOT/jobs/kafka_job.py" 2>&1)" || { echo "$out" >&2; die "flink run failed"; }
echo "$out"
# recover.sh resumes only from this job's checkpoints (or a savepoint): driverpay/restore_point.py
job="$(job_id_in "$out")"
if [[ -n "$job" ]]; then
  echo "$job" >>"$FDIR/driverpay-jobs"
  "$VENV/bin/python" -m driverpay.job_start save "$FDIR"
fi
