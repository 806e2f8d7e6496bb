"""The locked-down PostgreSQL of scripts/stack/postgres.sh: passwords, roles, grants, secrets file.

Real server, real roles: each test fails if a privilege, an auth rule or the secrets file regresses.
"""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from driverpay.secrets import lookup_password, pgpass_path
from driverpay.stackctl import pg_run_dir
from jobs.endpoints import DEFAULT_PG_DSN, DEFAULT_READ_DSN, Endpoints
from tests.api.conftest import OWNER_DSN, PG_PORT, ROOT

pytestmark = pytest.mark.stack

ROLES = ("driverpay_owner", "driverpay", "driverpay_reader")
WRITER = f"postgresql://driverpay@127.0.0.1:{PG_PORT}/driverpay"
READER = f"postgresql://driverpay_reader@127.0.0.1:{PG_PORT}/driverpay"
PG_DIR = pg_run_dir()
SOCKET = PG_DIR / "sock"
DATA = PG_DIR / "data"


def connect(dsn: str, **kwargs: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(dsn, autocommit=True, connect_timeout=5, **kwargs)  # type: ignore[arg-type]


def password(role: str) -> str:
    found = lookup_password("127.0.0.1", PG_PORT, "driverpay", role)
    assert found, f"no pgpass line for {role}"
    return found


@pytest.fixture
def empty_passfile(tmp_path: Path) -> Path:
    path = tmp_path / "pgpass"
    path.write_text("")
    path.chmod(0o600)
    return path


@pytest.fixture
def scratch_row(postgres: None) -> Iterator[str]:
    driver = "roles-test-driver"
    yield driver
    with connect(OWNER_DSN) as conn:
        conn.execute("DELETE FROM driver_daily_pay WHERE driver_id = %s", (driver,))


# --- authentication -------------------------------------------------------------------------


# the superuser's socket login is peer auth (only its OS user): see the pg_hba test
@pytest.mark.parametrize(
    ("role", "via"), [*((r, v) for r in ROLES for v in ("tcp", "socket")), ("postgres", "tcp")]
)
def test_a_connection_without_the_password_is_refused(
    postgres: None, empty_passfile: Path, role: str, via: str
) -> None:
    host = "127.0.0.1" if via == "tcp" else str(SOCKET)
    for extra in ({"passfile": str(empty_passfile)}, {"password": "wrong-" + "x" * 40}):
        with pytest.raises(psycopg.OperationalError) as refused:
            connect(f"host={host} port={PG_PORT} dbname=driverpay user={role}", **extra)
        message = str(refused.value)
        assert "no password supplied" in message or "password authentication failed" in message


def test_each_role_logs_in_with_its_own_password_over_tcp_and_socket(postgres: None) -> None:
    for role in ROLES:
        for host in ("127.0.0.1", str(SOCKET)):
            dsn = f"host={host} port={PG_PORT} dbname=driverpay user={role}"
            with connect(dsn, password=password(role)) as conn:
                assert conn.execute("SELECT current_user").fetchone() == (role,)
        if role != "driverpay_owner":
            with pytest.raises(psycopg.OperationalError):
                connect(f"host=127.0.0.1 port={PG_PORT} dbname=driverpay user={role}", password="x")


def test_pg_hba_uses_scram_everywhere_but_the_superusers_peer_socket(postgres: None) -> None:
    rules = [
        line.split()
        for line in (DATA / "pg_hba.conf").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert ["local", "all", "postgres", "peer", "map=bootstrap"] in rules
    for rule in rules:
        method = rule[3] if rule[0] == "local" else rule[4]
        assert method == "scram-sha-256" or rule[:4] == ["local", "all", "postgres", "peer"]
    assert not [rule for rule in rules if "trust" in rule]
    with connect(READER) as conn:
        assert conn.execute("SHOW password_encryption").fetchone() == ("scram-sha-256",)
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)


def test_app_roles_cannot_connect_to_the_postgres_database(postgres: None) -> None:
    for role in ROLES:
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            connect(
                f"host=127.0.0.1 port={PG_PORT} dbname=postgres user={role}",
                password=password(role),
            )


# --- the reader -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO driver_daily_pay (driver_id, pay_date, total_cents, currency, line_count,"
        " version) VALUES ('intruder', '2026-11-24', 1, 'USD', 1, 1)",
        "UPDATE driver_daily_pay SET total_cents = 0",
        "DELETE FROM pay_lines",
    ],
    ids=["insert", "update", "delete"],
)
def test_the_reader_cannot_write_even_with_read_only_turned_off(
    postgres: None, statement: str
) -> None:
    with connect(READER) as conn:
        with pytest.raises(errors.ReadOnlySqlTransaction):
            conn.execute(statement)  # first guard: sessions are read-only by default
        conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(statement)  # second guard: the role has SELECT only


# --- the writer -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE scratch (x int)",
        "ALTER TABLE pay_lines ADD COLUMN x int",
        "DROP TABLE driver_daily_pay",
        "TRUNCATE pay_lines",
        "DELETE FROM pay_lines",
        "CREATE INDEX ON pay_lines (zone)",
        "SELECT * FROM schema_migrations",
    ],
)
def test_the_writer_cannot_alter_the_schema_nor_remove_pay(postgres: None, statement: str) -> None:
    with (
        connect(WRITER) as conn,
        pytest.raises((errors.InsufficientPrivilege, errors.WrongObjectType)),
    ):
        conn.execute(statement)


def test_the_writer_can_upsert_what_the_job_writes(scratch_row: str) -> None:
    upsert = (
        "INSERT INTO driver_daily_pay (driver_id, pay_date, total_cents, currency, line_count,"
        " version) VALUES (%s, '2026-11-24', %s, 'USD', 1, %s) ON CONFLICT (driver_id, pay_date)"
        " DO UPDATE SET total_cents = EXCLUDED.total_cents, version = EXCLUDED.version"
    )
    with connect(WRITER) as conn:
        conn.execute(upsert, (scratch_row, 100, 1))
        conn.execute(upsert, (scratch_row, 250, 2))
        row = conn.execute(
            "SELECT total_cents, version FROM driver_daily_pay WHERE driver_id = %s",
            (scratch_row,),
        ).fetchone()
    assert row == (250, 2)


def test_only_the_owner_role_owns_anything(postgres: None) -> None:
    with connect(WRITER) as conn:
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname = 'public'"
            " UNION SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'driverpay'"
            " UNION SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'"
        ).fetchall()
        public_acl = conn.execute(
            "SELECT a.privilege_type FROM pg_namespace, aclexplode(nspacl) a"
            " WHERE nspname = 'public' AND a.grantee = 0"
        ).fetchall()
        attributes = conn.execute(
            "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles"
            " WHERE rolname = ANY(%s)",
            (list(ROLES),),
        ).fetchall()
    assert owners == [("driverpay_owner",)]
    assert public_acl == []  # PUBLIC may neither create in nor use the schema
    assert sorted(attributes) == sorted((role, False, False, False, False) for role in ROLES)


# --- the secrets file and DSNs --------------------------------------------------------------


def test_the_secrets_file_is_private_git_ignored_and_has_one_password_per_role(
    postgres: None,
) -> None:
    path = ROOT / ".run" / "secrets" / "pgpass"
    assert pgpass_path() == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)

    assert git("check-ignore", "-q", str(path)).returncode == 0
    assert git("ls-files", "--error-unmatch", str(path)).returncode != 0
    lines = [line.split(":") for line in path.read_text().splitlines()]
    tcp = {f[3]: f[4] for f in lines if f[:3] == ["127.0.0.1", PG_PORT, "driverpay"]}
    assert set(tcp) == set(ROLES)
    assert len(set(tcp.values())) == len(ROLES)
    assert all(len(p) >= 32 for p in tcp.values())


def test_dsns_carry_no_password_and_the_job_passes_it_as_a_jdbc_option(postgres: None) -> None:
    for dsn in (DEFAULT_READ_DSN, DEFAULT_PG_DSN, Endpoints.from_env().pg_dsn):
        assert psycopg.conninfo.conninfo_to_dict(dsn).get("password") is None
    dsn = DEFAULT_PG_DSN.replace(":5432/", f":{PG_PORT}/")
    options = Endpoints(
        "k", dsn + "?sslmode=disable&connect_timeout=7&application_name=dp-job"
    ).jdbc()
    assert options["username"] == "driverpay"
    assert options["password"] == password("driverpay")
    assert password("driverpay") not in options["url"]
    base, query = options["url"].split("?")
    assert base == f"jdbc:postgresql://127.0.0.1:{PG_PORT}/driverpay"
    assert sorted(query.split("&")) == [
        "ApplicationName=dp-job",
        "connectTimeout=7",
        "sslmode=disable",
    ]


def test_pgpass_lookup_follows_libpq(tmp_path: Path) -> None:
    path = tmp_path / "pgpass"
    path.write_text(
        "# comment\n"
        "/tmp/a\\:b:5432:driverpay:u:socket-pw\n"
        "127.0.0.1:5432:other:u:other-db\n"
        "*:*:driverpay:u:pa\\:ss\n"
    )
    path.chmod(0o600)
    assert lookup_password("/tmp/a:b", 5432, "driverpay", "u", path) == "socket-pw"
    assert lookup_password("127.0.0.1", "5432", "driverpay", "u", path) == "pa:ss"
    assert lookup_password("127.0.0.1", 5432, "driverpay", "v", path) is None
    path.chmod(0o644)  # readable by others: ignored, as libpq does
    assert lookup_password("127.0.0.1", 5432, "driverpay", "u", path) is None
