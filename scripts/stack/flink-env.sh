# Sourced by flink.sh / sql-client.sh: locates the pip Flink distribution and renders .run/flink/{conf,plugins,opt}.
VENV="${VENV:-$ROOT/.venv}"
if [[ -z "${PYFLINK_HOME:-}" ]]; then
  PYFLINK_HOME="$(ls -d "$VENV"/lib/python3*/site-packages/pyflink 2>/dev/null | head -1)"
fi
[[ -x "${PYFLINK_HOME:-/nonexistent}/bin/start-cluster.sh" ]] || die "pyflink not found under $VENV (set VENV or PYFLINK_HOME)"
FLINK_BIN="$PYFLINK_HOME/bin"
export FLINK_IDENT_STRING="${FLINK_IDENT_STRING:-${USER:-$(id -un)}}"
FDIR="$RUN/flink"
REST_PORT="${FLINK_REST_PORT:-8081}"
PROM_PORTS="${FLINK_PROM_PORTS:-9249-9252}"   # JM, then one per TaskManager (up to 3)

# fits_prometheus_ports N: whether N TaskManagers each get a reporter port. Each takes the next
# free port of PROM_PORTS after the JobManager's; one beyond the range would run without metrics,
# invisible to driverpay status and the alerts.
fits_prometheus_ports() { (($1 <= ${PROM_PORTS#*-} - ${PROM_PORTS%-*})); }
prometheus_room_message() {
  echo "the Prometheus port range $PROM_PORTS has room for $((${PROM_PORTS#*-} - ${PROM_PORTS%-*})) TaskManagers, not $1: set FLINK_PROM_PORTS wider (make down, then up)"
}
export FLINK_CONF_DIR="$FDIR/conf" FLINK_LIB_DIR="$FDIR/lib" FLINK_PLUGINS_DIR="$FDIR/plugins" FLINK_OPT_DIR="$FDIR/opt" \
  FLINK_LOG_DIR="$FDIR/log" FLINK_PID_DIR="$FDIR/pid"

render_flink_dirs() {
  [[ -d "$JARS/plugins" && -d "$JARS/gateway" ]] || "$STACK/jars.sh"
  mkdir -p "$FLINK_CONF_DIR" "$FLINK_LIB_DIR" "$FLINK_PLUGINS_DIR" "$FLINK_OPT_DIR" "$FLINK_LOG_DIR" "$FLINK_PID_DIR" \
    "$FDIR/checkpoints" "$FDIR/savepoints"
  sed -e "s|@ROOT@|$ROOT|g" -e "s|@REST_PORT@|$REST_PORT|g" -e "s|@PROM_PORTS@|$PROM_PORTS|g" \
    -e "s|@PYTHON@|${FLINK_PYTHON:-$VENV/bin/python}|g" \
    -e "s|@SITE_PACKAGES@|$(dirname "$PYFLINK_HOME")|g" "$ROOT/flink-conf/config.yaml" >"$FLINK_CONF_DIR/config.yaml"
  cp -f "$ROOT"/flink-conf/log*.properties "$ROOT"/flink-conf/logback*.xml "$FLINK_CONF_DIR/"
  echo "127.0.0.1:$REST_PORT" >"$FLINK_CONF_DIR/masters"
  echo "127.0.0.1" >"$FLINK_CONF_DIR/workers"
  # lib: the distribution's lib + flink-python (JM/TM need it to run Python UDF operators; the wheel keeps it in opt/)
  # + the connectors and the archive's Parquet writer, loaded once here: shipped with each job, every submission
  # left a copy in Metaspace until the cluster died of it (jobs/jars.py ships only what lib/ lacks)
  rm -f "$FLINK_LIB_DIR"/*.jar
  ln -s "$PYFLINK_HOME"/lib/*.jar "$PYFLINK_HOME"/opt/flink-python-*.jar "$JARS"/flink/*.jar "$JARS"/archive/*.jar \
    "$FLINK_LIB_DIR/"
  # plugins: only the Prometheus reporter (from .jars, pinned in pom.xml)
  rm -rf "$FLINK_PLUGINS_DIR"/*; cp -r "$JARS/plugins/." "$FLINK_PLUGINS_DIR/"
  # opt: the distribution's sql-client/python jars + flink-sql-gateway (the pip wheel lacks it; sql-client.sh looks here)
  rm -f "$FLINK_OPT_DIR"/*.jar
  ln -s "$PYFLINK_HOME"/opt/*.jar "$JARS"/gateway/*.jar "$FLINK_OPT_DIR/"
}

# job_id_in TEXT: the last job id `flink run` printed in TEXT ("... with JobID <id>"), or nothing.
job_id_in() { grep -oE 'JobID [0-9a-f]{32}' <<<"$1" | tail -1 | cut -d' ' -f2 || true; }

# active_jobs: the ids of driverpay jobs not yet finished, cancelled or failed (any of them holds
# the job's consumer group and transactional ids), space-separated.
active_jobs() {
  curl -sf --max-time 10 "http://127.0.0.1:$REST_PORT/jobs/overview" | python3 -c '
import json, sys
done = {"FINISHED", "CANCELED", "FAILED"}
print(" ".join(j["jid"] for j in json.load(sys.stdin)["jobs"] if j["name"] == "driverpay" and j["state"] not in done))'
}

# running_job: the id of the single RUNNING job named driverpay, or nothing.
running_job() {
  curl -sf --max-time 10 "http://127.0.0.1:$REST_PORT/jobs/overview" | python3 -c '
import json, sys
running = [j["jid"] for j in json.load(sys.stdin)["jobs"] if j["name"] == "driverpay" and j["state"] == "RUNNING"]
print(running[0] if len(running) == 1 else "")'
}
