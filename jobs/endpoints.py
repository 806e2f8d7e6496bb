"""Where the production job reads and writes, and how it authenticates to PostgreSQL.

The DSN names the role and carries no password: the JDBC driver cannot read a libpq password
file, so the job looks the password up in one (``PGPASSFILE``, default ``.run/secrets/pgpass``)
and passes it through the JDBC connector's own ``password`` option. Flink masks the values of
options whose key contains "password" in its logs and REST answers; a password inside the URL
would be printed wherever the URL is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from psycopg.conninfo import conninfo_to_dict

from driverpay.secrets import ensure_pgpassfile_env, lookup_password
from jobs.settings import DEFAULT_GROUP_ID, DEFAULT_KAFKA, GROUP_ID_ENV, KAFKA_ENV, PG_DSN_ENV

DEFAULT_PG_DSN = "postgresql://driverpay@127.0.0.1:5432/driverpay"  # the job's writer role
DEFAULT_READ_DSN = "postgresql://driverpay_reader@127.0.0.1:5432/driverpay"  # read API, status

# libpq keywords -> PgJDBC URL parameters where the names differ; others are passed as they are
# (sslmode, sslrootcert, sslcert, sslkey, options are spelled the same by both).
_JDBC_NAMES = {
    "connect_timeout": "connectTimeout",
    "application_name": "ApplicationName",
    "target_session_attrs": "targetServerType",
}
# Parts of the DSN that become the URL's host/port/path, the connector's username/password
# options, or that only libpq understands.
_NOT_IN_URL = {"host", "hostaddr", "port", "dbname", "user", "password", "passfile"}


@dataclass(frozen=True)
class Endpoints:
    """Where the job reads and writes, from the environment variables of docs/contracts.md §9."""

    kafka: str
    pg_dsn: str
    group_id: str = DEFAULT_GROUP_ID

    @classmethod
    def from_env(cls) -> Endpoints:
        """Environment first, so one job file serves every deployment."""
        return cls(
            kafka=os.environ.get(KAFKA_ENV, DEFAULT_KAFKA),
            pg_dsn=os.environ.get(PG_DSN_ENV, DEFAULT_PG_DSN),
            group_id=os.environ.get(GROUP_ID_ENV, DEFAULT_GROUP_ID),
        )

    def jdbc(self) -> dict[str, str]:
        """JDBC connector options: URL with the DSN's other parameters, username, password.

        The password comes from the DSN only if someone put it there (discouraged), else from
        the DSN's ``passfile`` or the pgpass file; no option at all if none matches, so the
        server's refusal names the missing credential instead of a wrong one.
        """
        params = {k: str(v) for k, v in conninfo_to_dict(self.pg_dsn).items() if v is not None}
        host = params.get("host") or "127.0.0.1"
        if host.startswith("/") or "," in host:
            raise ValueError("the job's PostgreSQL DSN needs one TCP host (JDBC has no sockets)")
        port = params.get("port") or "5432"
        user = params.get("user") or "driverpay"
        dbname = params.get("dbname") or user
        query = {_JDBC_NAMES.get(k, k): v for k, v in params.items() if k not in _NOT_IN_URL}
        url = f"jdbc:postgresql://{host}:{port}/{quote(dbname, safe='')}"
        options = {"url": f"{url}?{urlencode(query)}" if query else url, "username": user}
        password = params.get("password")
        if password is None:
            passfile = params.get("passfile")
            path = Path(passfile) if passfile else ensure_pgpassfile_env()
            password = lookup_password(host, port, dbname, user, path)
        if password is not None:
            options["password"] = password
        return options
