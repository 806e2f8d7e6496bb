#!/usr/bin/env bash
# Local PostgreSQL (Debian package binaries) for driverpay: postgres.sh {start|stop|status|migrate}.
# Data in .run/pg/data (owned by the postgres OS user), listens on 127.0.0.1:$PG_PORT (5432).
# Local dev only: pg_hba trusts loopback + the unix socket (no passwords checked).
# start also creates roles driverpay / driverpay_reader, database driverpay, and applies sql/migrations/*.sql.
set -euo pipefail
source "$(dirname "$0")/common.sh"

PORT="${PG_PORT:-5432}"
DIR="${PG_RUN_DIR:-$RUN/pg}"; DATA="$DIR/data"; SOCK="$DIR/sock"; LOGF="$DIR/log/postgres.log"
PIDF="$DATA/postmaster.pid"   # written by postgres itself; first line is the postmaster PID

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | while read -r d; do [[ -x "$d/initdb" ]] && echo "$d"; done | tail -1; }
BIN="$(find_bin)"
if [[ -z "$BIN" ]]; then
  log "initdb not found under /usr/lib/postgresql/*/bin, installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q postgresql >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; }
  BIN="$(find_bin)"; [[ -n "$BIN" ]] || die "postgresql install did not provide initdb"
fi
as_pg() { if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# A checkout under a folder the postgres OS user cannot enter (e.g. /root/...) keeps its data in
# /var/tmp instead, named after the checkout so two clones never share a cluster.
if [[ -z "${PG_RUN_DIR:-}" ]] && ! as_pg test -x "$ROOT"; then
  DIR="/var/tmp/driverpay-pg-$(printf %s "$ROOT" | cksum | cut -d' ' -f1)"
  DATA="$DIR/data"; SOCK="$DIR/sock"; LOGF="$DIR/log/postgres.log"; PIDF="$DATA/postmaster.pid"
fi
psql_su() { PGOPTIONS="-c client_min_messages=warning" "$BIN/psql" -X -q -h "$SOCK" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }
psql_app() { PGOPTIONS="-c client_min_messages=warning" "$BIN/psql" -X -q -h "$SOCK" -p "$PORT" -U driverpay -d driverpay -v ON_ERROR_STOP=1 "$@"; }
pg_pid_alive() { pid_alive "$PIDF" "$DATA"; }

init_cluster() {
  mkdir -p "$DIR/log" "$SOCK"
  [[ $EUID -eq 0 ]] && chown -R postgres: "$DIR"
  as_pg test -w "$DIR" || die "OS user postgres cannot write $DIR (a parent dir is not traversable?); set PG_RUN_DIR to a path it can use"
  [[ -f "$DATA/PG_VERSION" ]] && return 0
  log "initdb $DATA"
  as_pg "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --no-locale --auth-local=trust --auth-host=trust >"$DIR/log/initdb.log" 2>&1 \
    || { cat "$DIR/log/initdb.log" >&2; die "initdb failed"; }
  # listen on loopback only; trust is therefore limited to this machine
  cat >"$DATA/pg_hba.conf" <<HBA
local all all              trust
host  all all 127.0.0.1/32 trust
host  all all ::1/128      trust
HBA
}

bootstrap() {
  psql_su -d postgres <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'driverpay') THEN CREATE ROLE driverpay LOGIN PASSWORD 'driverpay'; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'driverpay_reader') THEN CREATE ROLE driverpay_reader LOGIN PASSWORD 'driverpay_reader'; END IF;
END $$;
SELECT 'CREATE DATABASE driverpay OWNER driverpay' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'driverpay') \gexec
SQL
  psql_su -d driverpay <<'SQL'
REVOKE ALL ON DATABASE driverpay FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE driverpay TO driverpay;
GRANT CONNECT ON DATABASE driverpay TO driverpay_reader;
GRANT USAGE ON SCHEMA public TO driverpay_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE driverpay IN SCHEMA public GRANT SELECT ON TABLES TO driverpay_reader;
SQL
}

migrate() {
  psql_app -c "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, filename text NOT NULL, sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
  local f name ver sum applied n=0
  while IFS= read -r f; do
    name="$(basename "$f")"; ver="${name%%_*}"; sum="$(sha256sum "$f" | cut -d' ' -f1)"
    applied="$(psql_app -At -c "SELECT sha256 FROM schema_migrations WHERE version = '$ver'")"
    if [[ -n "$applied" ]]; then
      [[ "$applied" == "$sum" ]] || log "WARNING: $name changed after it was applied (add a new migration instead)"
      continue
    fi
    log "applying migration $name"
    psql_app -1 -f "$f" -c "INSERT INTO schema_migrations (version, filename, sha256) VALUES ('$ver', '$name', '$sum')" \
      || die "migration $name failed (rolled back)"
    n=$((n + 1))
  done < <(find "$ROOT/sql/migrations" -maxdepth 1 -name '*.sql' | LC_ALL=C sort)
  log "migrations: $n applied, $(psql_app -At -c 'SELECT count(*) FROM schema_migrations') total"
}

start() {
  if pg_pid_alive; then log "already running (pid $(head -1 "$PIDF")) on 127.0.0.1:$PORT"
  else
    port_open "$PORT" && die "port $PORT is already in use by another process: $(ss -ltnpH "sport = :$PORT" | awk '{print $NF}' | head -1) (set PG_PORT)"
    init_cluster
    log "starting postgres $(basename "$(dirname "$BIN")") on 127.0.0.1:$PORT (log: $LOGF)"
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOGF" -w -t "${PG_START_TIMEOUT:-60}" \
      -o "-p $PORT -c listen_addresses=127.0.0.1 -k $SOCK" start >/dev/null \
      || { tail -20 "$LOGF" >&2; die "postgres failed to start"; }
  fi
  local deadline=$((SECONDS + 30))
  until "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; do ((SECONDS < deadline)) || die "pg_isready failed"; sleep 0.2; done
  bootstrap
  migrate
  log "postgres up (pid $(head -1 "$PIDF")): postgresql://driverpay@127.0.0.1:$PORT/driverpay"
}

stop() {
  if ! pg_pid_alive; then log "postgres not running"; return 0; fi
  local pid; pid="$(head -1 "$PIDF")"
  as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
  while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  log "postgres stopped (pid $pid)"
}

status() {
  if pg_pid_alive && "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then log "running (pid $(head -1 "$PIDF")) on 127.0.0.1:$PORT"
  elif pg_pid_alive; then log "pid $(head -1 "$PIDF") alive but not accepting connections"; return 1
  else log "stopped"; return 3; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  migrate) migrate ;;
  *) echo "usage: $0 {start|stop|status|migrate}" >&2; exit 2 ;;
esac
