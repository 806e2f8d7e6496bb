#!/usr/bin/env bash
# Flink SQL over the driverpay topics and PostgreSQL tables (catalog: jobs/sql_catalog.py), on the local cluster.
#   sql.sh                                  interactive, streaming (topics unbounded, watermarks on event_ts)
#   sql.sh -b                               interactive, batch (each query reads what the topics hold now)
#   sql.sh -f sql/adhoc/driver_day.sql [-D driver=d00001 -D date=2026-11-24]
#                                           runs one file in batch mode and prints its rows (tableau); -D fills ${name}
# The init file holds the driverpay_reader password (from .run/secrets/pgpass): rendered into .run/sql/session.*/
# (mode 0600, dir 0700) and removed on exit; never on a command line, in the client's log or in ~/.flink-sql-history.
# Queries run with parallelism 1 (one task slot); -f refuses to start when the cluster has no free slot instead of
# waiting for one. Needs make up first.
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$STACK/flink-env.sh"
usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

file="" batch="" values=()
while getopts "f:D:bh" opt; do
  case "$opt" in
    f) file="$OPTARG"; batch=1 ;;
    D) values+=(-D "$OPTARG") ;;
    b) batch=1 ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
(($# == 0)) || usage
[[ -z "$file" || -f "$file" ]] || die "no such query file: $file"
((${#values[@]} == 0)) || [[ -n "$file" ]] || die "-D fills variables of a -f file"

overview="$(curl -sf --max-time 10 "http://127.0.0.1:$REST_PORT/overview")" || die "Flink is not running: run make up first"
free="$(python3 -c 'import json, sys; print(json.load(sys.stdin)["slots-available"])' <<<"$overview")"
if ((free == 0)); then
  [[ -z "$file" ]] || die "no free task slot on the cluster (the streaming job holds them): a query would wait for one"
  log "WARNING: no free task slot: queries will wait until one is free"
fi

umask 077
mkdir -p "$RUN/sql"
session="$(mktemp -d "$RUN/sql/session.XXXXXX")"
trap 'rm -rf "$session"' EXIT
cd "$ROOT"
"$VENV/bin/python" -m jobs.sql_catalog init --output "$session/init.sql" ${batch:+--batch}
args=(-i "$session/init.sql" --history "$session/history")
if [[ -n "$file" ]]; then
  "$VENV/bin/python" -m jobs.sql_catalog query "$file" --output "$session/query.sql" "${values[@]}"
  args+=(-f "$session/query.sql")
fi
# The client echoes the init file into its log (CliClient, INFO) and its command history: this session logs with a copy
# of the cluster's conf where that logger is at WARN, and keeps its history with the init file (both removed on exit).
[[ -f "$FLINK_CONF_DIR/config.yaml" && -e "$FLINK_OPT_DIR" ]] || render_flink_dirs
cp -r "$FLINK_CONF_DIR" "$session/conf"
printf '%s\n' "logger.sqlinit.name = org.apache.flink.table.client.cli.CliClient" "logger.sqlinit.level = WARN" \
  >>"$session/conf/log4j-cli.properties"
export FLINK_CONF_DIR="$session/conf"
"$FLINK_BIN/sql-client.sh" embedded "${args[@]}"   # connectors: the cluster's lib/ (flink-env.sh)
