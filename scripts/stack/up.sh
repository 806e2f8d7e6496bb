#!/usr/bin/env bash
# Start the local real stack (idempotent): jars, Kafka (KRaft), PostgreSQL (+migrations), Flink; create topics; print a summary.
set -euo pipefail
source "$(dirname "$0")/common.sh"
one_at_a_time "$@"
t0=$SECONDS
step() { local t=$SECONDS; "$STACK/$1" "${@:2}"; log "$1 ${*:2} took $((SECONDS - t))s"; }
step jars.sh
step kafka.sh start
step postgres.sh start
step flink.sh start
step topics.sh
cat <<SUMMARY
driverpay stack up in $((SECONDS - t0))s
  kafka      127.0.0.1:${KAFKA_PORT:-9092}  (pid $(cat "$RUN/kafka/kafka.pid"), logs .run/kafka/logs)
  postgres   postgresql://driverpay@127.0.0.1:${PG_PORT:-5432}/driverpay, reader driverpay_reader, owner driverpay_owner  (scram-sha-256; passwords in .run/secrets/pgpass: export PGPASSFILE)
  flink      http://127.0.0.1:${FLINK_REST_PORT:-8081}  FLINK_CONF_DIR=.run/flink/conf  prometheus ports ${FLINK_PROM_PORTS:-9249-9252} (JM first, then each TM) /metrics  (logs .run/flink/log)
  connectors .jars/{flink,archive} in the cluster's lib/   sql client: scripts/stack/sql-client.sh   kafka cli: scripts/stack/kafka-tool.sh
SUMMARY
