#!/usr/bin/env bash
# Resubmit the job from its latest retained checkpoint, after the JobManager (or the whole
# cluster) died: `make up` first, then this. Checkpoints are retained on cancellation and failure.
set -euo pipefail
source "$(dirname "$0")/common.sh"
latest="$(ls -dt "$RUN"/flink/checkpoints/*/chk-* 2>/dev/null | while read -r d; do
  [[ -f "$d/_metadata" ]] && { echo "$d"; break; }; done || true)"
[[ -n "$latest" ]] || die "no completed checkpoint under .run/flink/checkpoints"
log "resuming from $latest"
exec "$STACK/submit.sh" -s "file://$latest" "$@"
