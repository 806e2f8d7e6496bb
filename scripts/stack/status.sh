#!/usr/bin/env bash
# Show the state of each local stack service; exit 0 only if all are running.
set -uo pipefail
d="$(dirname "$0")"; rc=0
for s in kafka postgres flink; do "$d/$s.sh" status || rc=1; done
exit $rc
