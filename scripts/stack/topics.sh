#!/usr/bin/env bash
# Create the driverpay Kafka topics if missing (idempotent) and print partitions/replication of each.
set -euo pipefail
source "$(dirname "$0")/common.sh"
BOOT="127.0.0.1:${KAFKA_PORT:-9092}"
# name:partitions (replication factor 1: single broker)
# (the same list as driverpay/topics.py; zones is compacted: the latest record per version hash)
TOPICS=(order-events:4 pay-ledger:2 driver-daily-pay:2 order-events-dlq:2 order-events-quarantine:2 order-events-audit:2 pay-corrections:2 zones:1)
declare -A CONFIG=([zones]="--config cleanup.policy=compact")
tool() { "$STACK/kafka-tool.sh" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOT" "$@"; }

existing="$(tool --list)"
jobs=()
for t in "${TOPICS[@]}"; do   # create the missing ones in parallel (one JVM each)
  name="${t%%:*}"; parts="${t##*:}"
  grep -qx "$name" <<<"$existing" && continue
  # shellcheck disable=SC2086  # the config flags are meant to split
  tool --create --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 1 ${CONFIG[$name]:-} >/dev/null &
  jobs+=("$!:$name")
done
for j in "${jobs[@]}"; do wait "${j%%:*}" || die "creating topic ${j#*:} failed"; log "created topic ${j#*:}"; done
regex="$(printf '%s|' "${TOPICS[@]%%:*}")"
desc="$(tool --describe --topic "^(${regex%|})\$" | awk '$1 == "Topic:" && $5 == "PartitionCount:" {print $2, $6, $8}')"
for t in "${TOPICS[@]}"; do
  read -r _ parts repl < <(grep "^${t%%:*} " <<<"$desc") || true
  printf '  topic %-24s partitions=%s replication=%s\n' "${t%%:*}" "${parts:-?}" "${repl:-?}"
  [[ "${parts:-}" == "${t##*:}" ]] || log "WARNING: topic ${t%%:*} has ${parts:-no} partitions, expected ${t##*:}"
done
