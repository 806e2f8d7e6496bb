#!/usr/bin/env bash
# Resolve the pinned jars of pom.xml into .jars/{flink,plugins,gateway,kafka}; no-op if the stamp matches the pom.
set -euo pipefail
source "$(dirname "$0")/common.sh"

hash="$(cat "$ROOT/pom.xml" "$STACK/jars.sh" | sha256sum | cut -d' ' -f1)"
stamp="$JARS/.stamp"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$hash" ]]; then exit 0; fi

if ! command -v mvn >/dev/null; then  # a fresh machine: Maven from Debian
  log "installing maven from Debian"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >/dev/null || die "could not install maven"
fi
log "resolving jars from pom.xml into $JARS ..."
rm -rf "$JARS/flink" "$JARS/plugins" "$JARS/gateway" "$JARS/kafka" "$JARS/archive" "$stamp"
mkdir -p "$JARS"
if ! mvn -q -B -f "$ROOT/pom.xml" generate-resources -Djars.dir="$JARS" >"$JARS/mvn.log" 2>&1; then
  tail -40 "$JARS/mvn.log" >&2; die "maven failed (full log: $JARS/mvn.log)"
fi
echo "$hash" >"$stamp"
log "done: $(find "$JARS" -name '*.jar' | wc -l) jars ($(du -sh "$JARS" | cut -f1))"
