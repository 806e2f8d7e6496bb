#!/usr/bin/env bash
# Local PostgreSQL (Debian package binaries) for driverpay: postgres.sh {start|stop|status|migrate|dir}.
# Data in .run/pg/data (owned by the postgres OS user), listens on 127.0.0.1:$PG_PORT (5432).
# Locked down as in production: every connection is password-checked with scram-sha-256 except the
# bootstrap superuser `postgres` over the unix socket (peer: only the OS user running the cluster).
# start generates one random password per role into .run/secrets/pgpass (0600; reused when present),
# (re)sets the roles' passwords from it as SCRAM verifiers computed here (the server never sees
# a plaintext password), creates the roles driverpay_owner (owns the objects, runs migrations),
# driverpay (the job's writer) and driverpay_reader (the API, read-only), database driverpay, and
# applies sql/migrations/*.sql as the owner. A data dir from an older trust-auth run is migrated.
# Clients find the passwords through PGPASSFILE=<repo>/.run/secrets/pgpass; DSNs carry none.
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
SECRETS="$RUN/secrets"; PGPASS="$SECRETS/pgpass"
ROLES=(driverpay_owner driverpay driverpay_reader)
PY="$ROOT/.venv/bin/python"; [[ -x "$PY" ]] || PY=python3
# the superuser: peer auth on the socket, so psql runs as the OS user that owns the cluster
psql_su() { as_pg env PGOPTIONS="-c client_min_messages=warning" "$BIN/psql" -X -q -h "$SOCK" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }
# migrations: the owner role over loopback TCP, password from the pgpass file
psql_app() { PGPASSFILE="$PGPASS" PGOPTIONS="-c client_min_messages=warning" "$BIN/psql" -X -q -w -h 127.0.0.1 -p "$PORT" -U driverpay_owner -d driverpay -v ON_ERROR_STOP=1 "$@"; }
pg_pid_alive() { pid_alive "$PIDF" "$DATA"; }

init_cluster() {
  mkdir -p "$DIR/log" "$SOCK"
  [[ $EUID -eq 0 ]] && chown -R postgres: "$DIR"
  as_pg test -w "$DIR" || die "OS user postgres cannot write $DIR (a parent dir is not traversable?); set PG_RUN_DIR to a path it can use"
  [[ -f "$DATA/PG_VERSION" ]] && return 0
  log "initdb $DATA"
  # host connections rejected until write_hba (initdb wants a superuser password for scram)
  as_pg "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --no-locale --auth-local=peer --auth-host=reject >"$DIR/log/initdb.log" 2>&1 \
    || { cat "$DIR/log/initdb.log" >&2; die "initdb failed"; }
}

# pg_hba.conf/pg_ident.conf are rewritten on every start, so a data dir from an older trust-auth
# run is locked down too (reloaded if that cluster is still running).
write_hba() {
  as_pg tee "$DATA/pg_ident.conf" >/dev/null <<IDENT
# managed by scripts/stack/postgres.sh: OS users allowed to log in as the superuser postgres
bootstrap  postgres  postgres
$([[ $EUID -eq 0 ]] || echo "bootstrap  $(id -un)  postgres")
IDENT
  as_pg tee "$DATA/pg_hba.conf" >/dev/null <<HBA
# managed by scripts/stack/postgres.sh (rewritten on every start): passwords checked everywhere
local all postgres              peer map=bootstrap
local all all                   scram-sha-256
host  all all 127.0.0.1/32      scram-sha-256
host  all all ::1/128           scram-sha-256
HBA
}

# .run/secrets/pgpass: one random password per role (kept if the file has it), lines for
# 127.0.0.1, localhost and the socket dir. Written atomically with mode 0600 in a 0700 dir.
ensure_secrets() {
  "$PY" - "$PGPASS" "$PORT" "$SOCK" "${ROLES[@]}" <<'PY'
import os, secrets, sys
path, port, sock, roles = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
folder = os.path.dirname(path)
os.makedirs(folder, mode=0o700, exist_ok=True)
os.chmod(folder, 0o700)
known = {}
if os.path.exists(path):
    for line in open(path):
        fields = line.rstrip("\n").split(":")
        if len(fields) == 5 and fields[3] in roles:
            known.setdefault(fields[3], fields[4])
esc = lambda text: text.replace("\\", "\\\\").replace(":", "\\:")
lines = []
for role in roles:
    password = known.get(role) or secrets.token_urlsafe(32)
    for host in ("127.0.0.1", "localhost", sock):
        lines.append(f"{esc(host)}:{port}:driverpay:{role}:{password}\n")
tmp = f"{path}.tmp"
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as out:
    out.writelines(lines)
os.chmod(tmp, 0o600)
os.replace(tmp, path)
PY
}

# ALTER ROLE ... PASSWORD '<SCRAM verifier>' for every role, on stdout (piped to psql's stdin):
# passwords never appear on a command line, in the environment or in what the server receives.
role_password_sql() {
  "$PY" - "$PGPASS" "${ROLES[@]}" <<'PY'
import base64, hashlib, hmac, os, sys
path, roles = sys.argv[1], sys.argv[2:]
b64 = lambda raw: base64.b64encode(raw).decode()
print("SET log_statement = 'none'; SET log_min_duration_statement = -1; SET log_min_error_statement = 'panic';")
done = set()
for line in open(path):
    fields = line.rstrip("\n").split(":")
    if len(fields) != 5 or fields[3] not in roles or fields[3] in done:
        continue
    role, password = fields[3], fields[4]
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 4096)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    verifier = f"SCRAM-SHA-256$4096:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"
    print(f"ALTER ROLE \"{role}\" PASSWORD '{verifier}';")
    done.add(role)
missing = set(roles) - done
if missing:
    sys.exit(f"no password for {sorted(missing)} in {path}")
PY
}

# Roles, database and schema privileges (idempotent, every start); table grants are migration 002.
bootstrap() {
  psql_su -d postgres <<'SQL'
ALTER SYSTEM SET password_encryption = 'scram-sha-256';
ALTER SYSTEM SET log_statement = 'none';
SELECT pg_reload_conf() \g /dev/null
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'driverpay_owner') THEN CREATE ROLE driverpay_owner; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'driverpay') THEN CREATE ROLE driverpay; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'driverpay_reader') THEN CREATE ROLE driverpay_reader; END IF;
END $$;
ALTER ROLE driverpay_owner  LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
ALTER ROLE driverpay        LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
ALTER ROLE driverpay_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
ALTER ROLE driverpay_reader SET default_transaction_read_only = on;
SELECT 'CREATE DATABASE driverpay OWNER driverpay_owner' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'driverpay') \gexec
ALTER DATABASE driverpay OWNER TO driverpay_owner;
REVOKE CONNECT, TEMPORARY ON DATABASE postgres, template1 FROM PUBLIC;
SQL
  role_password_sql | psql_su -d postgres
  psql_su -d driverpay <<'SQL'
-- an older run made the writer own the tables: hand everything to the owner role
REASSIGN OWNED BY driverpay TO driverpay_owner;
ALTER SCHEMA public OWNER TO driverpay_owner;
ALTER DEFAULT PRIVILEGES FOR ROLE driverpay IN SCHEMA public REVOKE ALL ON TABLES FROM driverpay_reader;
REVOKE ALL ON DATABASE driverpay FROM PUBLIC, driverpay, driverpay_reader;
GRANT CONNECT ON DATABASE driverpay TO driverpay, driverpay_reader;
REVOKE ALL ON SCHEMA public FROM PUBLIC, driverpay, driverpay_reader;
GRANT USAGE ON SCHEMA public TO driverpay, driverpay_reader;
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
  if pg_pid_alive; then
    log "already running (pid $(head -1 "$PIDF")) on 127.0.0.1:$PORT"
    write_hba
    as_pg "$BIN/pg_ctl" -D "$DATA" reload >/dev/null
  else
    port_open "$PORT" && die "port $PORT is already in use by another process: $(ss -ltnpH "sport = :$PORT" | awk '{print $NF}' | head -1) (set PG_PORT)"
    init_cluster
    write_hba
    log "starting postgres $(basename "$(dirname "$BIN")") on 127.0.0.1:$PORT (log: $LOGF)"
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOGF" -w -t "${PG_START_TIMEOUT:-60}" \
      -o "-p $PORT -c listen_addresses=127.0.0.1 -k $SOCK -c password_encryption=scram-sha-256 -c log_statement=none" start >/dev/null \
      || { tail -20 "$LOGF" >&2; die "postgres failed to start"; }
  fi
  local deadline=$((SECONDS + 30))
  until "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; do ((SECONDS < deadline)) || die "pg_isready failed"; sleep 0.2; done
  ensure_secrets
  bootstrap
  migrate
  log "postgres up (pid $(head -1 "$PIDF")): postgresql://driverpay@127.0.0.1:$PORT/driverpay (scram-sha-256; PGPASSFILE=$PGPASS)"
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
  # where this checkout's cluster lives (.run/pg, or /var/tmp/... when postgres cannot enter it)
  dir) echo "$DIR" ;;
  *) echo "usage: $0 {start|stop|status|migrate|dir}" >&2; exit 2 ;;
esac
