#!/usr/bin/env bash
# Run a Kafka CLI main class from .jars/kafka, e.g.:
#   kafka-tool.sh org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list
#   kafka-tool.sh org.apache.kafka.tools.ConsoleProducer --bootstrap-server 127.0.0.1:9092 --topic t
#   kafka-tool.sh org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server 127.0.0.1:9092 --topic t --from-beginning
set -euo pipefail
source "$(dirname "$0")/common.sh"
[[ -d "$JARS/kafka" ]] || "$STACK/jars.sh"
exec java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -Dlog4j2.configurationFile="$STACK/kafka-tools-log4j2.properties" \
  -cp "$JARS/kafka/*" "$@"
