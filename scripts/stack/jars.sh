#!/usr/bin/env bash
# Resolve the pinned jars of pom.xml into .jars/{flink,plugins,gateway,kafka}; no-op if the stamp matches the pom.
set -euo pipefail
source "$(dirname "$0")/common.sh"

hash="$(cat "$ROOT/pom.xml" "$STACK/jars.sh" | sha256sum | cut -d' ' -f1)"
stamp="$JARS/.stamp"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$hash" ]]; then exit 0; fi

command -v mvn >/dev/null || die "mvn not found (apt-get install -y maven)"
log "resolving jars from pom.xml into $JARS ..."
rm -rf "$JARS/flink" "$JARS/plugins" "$JARS/gateway" "$JARS/kafka" "$stamp"
mkdir -p "$JARS"
if ! mvn -q -B -f "$ROOT/pom.xml" generate-resources -Djars.dir="$JARS" >"$JARS/mvn.log" 2>&1; then
  tail -40 "$JARS/mvn.log" >&2; die "maven failed (full log: $JARS/mvn.log)"
fi
echo "$hash" >"$stamp"
log "done: $(find "$JARS" -name '*.jar' | wc -l) jars ($(du -sh "$JARS" | cut -f1))"
