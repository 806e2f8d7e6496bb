#!/usr/bin/env bash
# Submit the streaming job (jobs/kafka_job.py) to the local Flink cluster, detached.
# A new consumer group (DRIVERPAY_GROUP_ID, default "driverpay") starts at the earliest offset.
# Extra arguments go to `flink run`, e.g. `-s <savepoint>` to resume an upgrade from a savepoint.
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$STACK/flink-env.sh"
curl -sf "http://127.0.0.1:$REST_PORT/overview" >/dev/null || die "Flink is not running: run make up first"
export PYFLINK_CLIENT_EXECUTABLE="$VENV/bin/python"
cd "$ROOT"
"$FLINK_BIN/flink" run --detached \
  -Dpipeline.name=driverpay \
  -pyexec "$VENV/bin/python" -pyclientexec "$VENV/bin/python" \
  "$@" -py "$ROOT/jobs/kafka_job.py"
