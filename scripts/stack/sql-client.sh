#!/usr/bin/env bash
# Flink SQL client against the local cluster, with flink-sql-gateway on its classpath and the connectors from the
# cluster's lib/ (flink-env.sh). Args go to pyflink's sql-client.sh (e.g. -f file.sql; none = interactive). Needs flink.sh start first.
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$STACK/flink-env.sh"
[[ -f "$FLINK_CONF_DIR/config.yaml" && -e "$FLINK_OPT_DIR" ]] || render_flink_dirs
exec "$FLINK_BIN/sql-client.sh" embedded "$@"
