"""Where PostgreSQL passwords live: a libpq password file, never a DSN, a command line or a log.

``scripts/stack/postgres.sh start`` generates one random password per role into
``<repo>/.run/secrets/pgpass`` (mode 0600, folder 0700) and (re)sets the roles from it. libpq
clients (psql, psycopg: the API, the tests) find it through ``PGPASSFILE``; the Flink job, whose
JDBC driver does not read pgpass files, looks its password up here and hands it to the JDBC
connector's ``password`` option (Flink masks option values whose key contains "password").
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from driverpay.paths import RUN

PGPASSFILE_ENV = "PGPASSFILE"


def pgpass_path(environ: MutableMapping[str, str] | None = None) -> Path:
    """``$PGPASSFILE`` if set, else the file the stack script writes."""
    env = os.environ if environ is None else environ
    return Path(env.get(PGPASSFILE_ENV) or RUN / "secrets" / "pgpass")


def ensure_pgpassfile_env(environ: MutableMapping[str, str] | None = None) -> Path:
    """Point libpq at the stack's password file unless the caller chose another one."""
    env = os.environ if environ is None else environ
    path = pgpass_path(env)
    env.setdefault(PGPASSFILE_ENV, str(path))
    return path


def _fields(line: str) -> list[str]:
    r"""Split one pgpass line on unescaped ``:`` (``\:`` and ``\\`` are escapes, as in libpq)."""
    fields: list[str] = []
    current: list[str] = []
    chars = iter(line)
    for char in chars:
        if char == "\\":
            current.append(next(chars, ""))
        elif char == ":" and len(fields) < 4:
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields


def lookup_password(
    host: str, port: str | int, dbname: str, user: str, path: Path | None = None
) -> str | None:
    """The first matching password of a pgpass file (``*`` matches anything), else None.

    Same matching as libpq, so the job and psql agree on which line applies. A file readable
    by group or others is ignored, as libpq does, so a leaked copy is not silently used.
    """
    file = path or pgpass_path()
    try:
        if file.stat().st_mode & 0o077:
            return None
        text = file.read_text()
    except OSError:
        return None
    wanted = [host or "localhost", str(port or 5432), dbname, user]
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = _fields(line)
        if len(fields) == 5 and all(f in ("*", w) for f, w in zip(fields, wanted, strict=False)):
            return fields[4]
    return None
