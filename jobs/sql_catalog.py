"""The Flink SQL catalog of ``make sql``: every topic and PostgreSQL table, generated, not copied.

``scripts/stack/sql.sh`` renders this module's init file and starts Flink's SQL client with it
(``sql-client.sh -i``). Nothing here declares a column list a second time:

- PostgreSQL tables (``pg_pay_lines``, ``pg_driver_daily_pay``) get every column the migrations
  define, through ``jobs/pg_schema.py`` (the job's JDBC sinks use the same derivation).
- Kafka tables get the fields of the records the job writes, taken from the code that writes
  them: each record builder is called on a sample value and its keys, in order, are the columns
  (``PayLine.to_record``, ``DailyTotals``' emission, ``dead_letter``, the audit and quarantine
  builders of ``jobs/functions.py``). Topic names come from ``jobs/kafka_job.py``. The one shape
  with no builder of its own, the ``LINE_BEYOND_RETENTION`` audit record (an inline dict of the
  daily stage), is stated here; ``tests/flink/test_sql_catalog.py`` checks every record a real
  run writes against these tables.

A column's SQL type follows its JSON value (integer ``BIGINT``, boolean ``BOOLEAN``, object
``ROW``, anything else ``STRING``) unless ``FIELD_TYPES`` gives the type of its canonical text
(dates, RFC 3339 UTC instants, decimal strings). Every Kafka table also has the record's
``kafka_partition``, ``kafka_offset``, ``kafka_ts`` (the Kafka record timestamp) and an event-time
column ``event_ts`` with the job's own watermark bound (``JobSettings.out_of_orderness_ms``).

The JDBC tables log in as the read-only role ``driverpay_reader`` (``DRIVERPAY_PG_READ_DSN``,
as the read API); its password is looked up in the pgpass file (``jobs/endpoints.py``) and
written only into the rendered init file, which is created with mode 0600 under ``.run/``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from driverpay.api import READ_DSN_ENV
from driverpay.paths import ROOT
from jobs.endpoints import DEFAULT_READ_DSN, Endpoints
from jobs.functions import (
    MAX_DEAD_LETTER_BYTES,
    Guarded,
    _audit,
    _line_audit,
    currency_mismatch,
    dead_letter,
)
from jobs.kafka_job import CORRECTIONS_TOPIC, INPUT_TOPIC, TOPICS
from jobs.pg_schema import PgTable, flink_type, read_migrations
from jobs.settings import DEFAULT_KAFKA, DEFAULT_ZONES, KAFKA_ENV, ZONES_ENV, JobSettings
from udfs.daily import DailyTotals
from udfs.events import EventType, OrderEvent, event_record
from udfs.ledger import LineKind, PaidInterval, PayLine
from udfs.lifecycle import quarantine_record
from udfs.zones import Zones, load_zones

TIMESTAMP = "TIMESTAMP_LTZ(3)"  # every instant the job writes is RFC 3339 UTC (udfs.timefmt)
_PAY_LINES = {c.name: flink_type(c.pg_type) for c in read_migrations()["pay_lines"].columns}
# The SQL type of a field's canonical text; decimals as sized as their PostgreSQL columns.
FIELD_TYPES = {
    "pay_date": "DATE",
    "start": TIMESTAMP,
    "end": TIMESTAMP,
    "interval_start": TIMESTAMP,
    "interval_end": TIMESTAMP,
    "as_of": TIMESTAMP,
    "event_time": TIMESTAMP,
    "watermark": TIMESTAMP,
    "amount": _PAY_LINES["amount"],
    "total": _PAY_LINES["amount"],
    "rate_per_minute": _PAY_LINES["rate_per_minute"],
    "weighted_ms": _PAY_LINES["weighted_ms"],
}
# RFC 3339 with any offset (docs/contracts.md §1): date, time, optional fraction, offset.
_RFC3339 = r"'^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$'"
# The same instant as udfs.timefmt.parse_rfc3339_ms (fraction floored to ms); NULL if no match.
EVENT_TIME_SQL = (
    f"TO_TIMESTAMP_LTZ(REGEXP_EXTRACT(`event_time`, {_RFC3339}, 1) || ' ' || "
    f"REGEXP_EXTRACT(`event_time`, {_RFC3339}, 2) || '.' || "
    f"SUBSTRING(COALESCE(REGEXP_EXTRACT(`event_time`, {_RFC3339}, 4), '') || '000' FROM 1 FOR 3), "
    f"'yyyy-MM-dd HH:mm:ss.SSS', UPPER(REGEXP_EXTRACT(`event_time`, {_RFC3339}, 5)))"
)
_VARIABLE = re.compile(r"\$\{(\w+)\}")
_DEFAULT = re.compile(r"^--.*\$\{(\w+)\}\s+defaults?\s+to\s+(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class KafkaTable:
    """A topic as a table: JSON fields in record order, an event-time expression, options."""

    name: str
    topic: str
    fields: tuple[tuple[str, str], ...]  # (JSON key, SQL type)
    event_time: str  # SQL over the columns; the table's event_ts and its watermark
    format: str = "json"
    tolerant: bool = False  # json.ignore-parse-errors: the input topic, written by anyone


@dataclass(frozen=True)
class JdbcTable:
    """A PostgreSQL table as the migrations define it, read through the JDBC connector."""

    name: str
    table: PgTable


def sample_line() -> PayLine:
    """A ledger line with every optional field set, for the record builders to render."""
    interval = PaidInterval("o", "d", _sample_zone(), 0, 60_000, "e1", "e2", "DELIVERED")
    return PayLine(
        "l",
        LineKind.ADJUSTMENT,
        interval,
        date(2026, 11, 24),
        0,
        60_000,
        60_000,
        Decimal("60000.5"),
        Decimal("0.30"),
        Decimal("0.30"),
        "USD",
        "sha256:zones",
        "sha256:schedule",
        "reason",
    )


def sample_event() -> OrderEvent:
    """An event as the parser returns it."""
    return OrderEvent("e1", "o", "d", EventType.ACCEPTED, 0, _sample_zone())


def _sample_zone() -> str:
    return str(next(iter(_zones())))


@functools.cache
def _zones() -> Zones:
    return load_zones(os.environ.get(ZONES_ENV, str(ROOT / DEFAULT_ZONES)))


class _NoCounter:
    def inc(self, n: int = 1) -> None:
        """Metrics are not needed to render a record."""


def _poison_outputs() -> list[tuple[Any, str]]:
    """What the job writes when an operator raises: a dead letter and a ``POISON`` audit."""

    def fail() -> Iterator[Any]:
        raise RuntimeError("sample")

    guard = Guarded()
    guard.poison = _NoCounter()
    return list(guard.guarded(fail, lambda: b"\xff", lambda: "key"))


def _records() -> dict[str, list[dict[str, Any]]]:
    """Sample records of every output, rendered by the code that writes them."""
    line = sample_line()
    event = sample_event()
    totals = DailyTotals(_zones(), grace_ms=0, retention_ms=0)
    _, step = totals.on_line(None, line, event_ms=0, watermark_ms=-(2**62))
    if step.emit is None:
        raise RuntimeError("DailyTotals no longer emits a day's first line: update sql_catalog")
    poison = [json.loads(text) for _, text in _poison_outputs()]
    ledger = [line.to_record()]
    return {
        "ledger": ledger,
        "daily": [step.emit],
        "dead_letter": [
            json.loads(dead_letter("r", b"\x01" * MAX_DEAD_LETTER_BYTES, "p")),  # cut short
            poison[0],
        ],
        "quarantine": [
            # jobs/functions.py ParseEvents._ahead adds where it was read and whether it is held
            {
                **quarantine_record(event, "r", kind="AHEAD_OF_STREAM"),
                "position": "p",
                "held": True,
            },
            json.loads(_line_audit("DAY_LINE_CAP", line, 1)),
            json.loads(currency_mismatch(line, "JPY")),
        ],
        "audit": [
            json.loads(_audit("LATE", event, 0)),
            json.loads(_audit("RELEASED_AHEAD", event, 0, position="p")),
            json.loads(_line_audit("DUPLICATE_LINE", line)),
            poison[1],
            # jobs/functions.py DailyTotalsFunction._on_line writes this one inline
            {"kind": "LINE_BEYOND_RETENTION", "line": line.to_record()},
        ],
    }


def columns_of(records: Iterable[Mapping[str, Any]]) -> tuple[tuple[str, str], ...]:
    """The union of the records' keys in first-seen order, each with its SQL type."""
    seen: dict[str, str] = {}
    for record in records:
        for key, value in record.items():
            if key not in seen or seen[key] == "STRING":  # a later non-null value types it
                seen[key] = sql_type(key, value)
    return tuple(seen.items())


def sql_type(key: str, value: Any) -> str:
    """The SQL type of one JSON field (``FIELD_TYPES`` first, then its JSON type)."""
    if key in FIELD_TYPES:
        return FIELD_TYPES[key]
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "BIGINT"
    if isinstance(value, dict):
        inner = ", ".join(f"{quote_ident(k)} {t}" for k, t in columns_of([value]))
        return f"ROW<{inner}>"
    return "STRING"


def kafka_tables() -> list[KafkaTable]:
    """Every topic of docs/contracts.md §5, plus the input raw and parsed."""
    records = _records()
    ledger = columns_of(records["ledger"])
    # The input as the parser reads it: an event's fields (event_time as sent: any offset) and
    # the optional schema_version (udfs.events.parse_event).
    event = (*((k, "STRING") for k in event_record(sample_event())), ("schema_version", "BIGINT"))
    return [
        KafkaTable(
            "order_events",
            INPUT_TOPIC,
            event,
            f"COALESCE({EVENT_TIME_SQL}, `kafka_ts`)",
            tolerant=True,
        ),
        KafkaTable("order_events_raw", INPUT_TOPIC, (("payload", "STRING"),), "`kafka_ts`", "raw"),
        KafkaTable("pay_ledger", TOPICS["ledger"], ledger, "`end`"),
        KafkaTable("driver_daily_pay", TOPICS["daily"], columns_of(records["daily"]), "`as_of`"),
        KafkaTable(
            "order_events_dlq",
            TOPICS["dead_letter"],
            columns_of(records["dead_letter"]),
            "`kafka_ts`",
        ),
        KafkaTable(
            "order_events_quarantine",
            TOPICS["quarantine"],
            columns_of(records["quarantine"]),
            "COALESCE(`event_time`, `kafka_ts`)",
        ),
        KafkaTable(
            "order_events_audit",
            TOPICS["audit"],
            columns_of(records["audit"]),
            "COALESCE(`event_time`, `line`.`end`, `kafka_ts`)",
        ),
        KafkaTable("pay_corrections", CORRECTIONS_TOPIC, ledger, "`end`"),
    ]


def jdbc_tables() -> list[JdbcTable]:
    """The read model's tables, named as the job's sinks name them."""
    tables = read_migrations()
    return [
        JdbcTable("pg_pay_lines", tables["pay_lines"]),
        JdbcTable("pg_driver_daily_pay", tables["driver_daily_pay"]),
    ]


def quote_ident(name: str) -> str:
    """A Flink SQL identifier (``end`` and ``start`` are reserved words)."""
    return "`" + name.replace("`", "``") + "`"


def quote_text(value: str) -> str:
    """A Flink SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _with(options: Mapping[str, str]) -> str:
    body = ",\n".join(f"  {quote_text(k)} = {quote_text(v)}" for k, v in options.items())
    return f"WITH (\n{body}\n)"


def kafka_ddl(table: KafkaTable, bootstrap: str, bounded: bool) -> str:
    """``CREATE TABLE`` for one topic; ``bounded``: stop at the offsets current at start."""
    delay_ms = JobSettings().out_of_orderness_ms
    columns = [f"  {quote_ident(name)} {dtype}" for name, dtype in table.fields]
    columns += [
        "  `kafka_partition` INT METADATA FROM 'partition' VIRTUAL",
        "  `kafka_offset` BIGINT METADATA FROM 'offset' VIRTUAL",
        "  `kafka_ts` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL",
        f"  `event_ts` AS {table.event_time}",
        f"  WATERMARK FOR `event_ts` AS `event_ts` - "
        f"INTERVAL '{delay_ms // 1000}.{delay_ms % 1000:03d}' SECOND(9, 3)",
    ]
    options = {
        "connector": "kafka",
        "topic": table.topic,
        "properties.bootstrap.servers": bootstrap,
        # every output is written in Kafka transactions: read only what was committed
        "properties.isolation.level": "read_committed",
        "scan.startup.mode": "earliest-offset",
        "format": table.format,
    }
    if table.format == "json":
        options["json.timestamp-format.standard"] = "ISO-8601"
    if table.tolerant:
        options["json.ignore-parse-errors"] = "true"
    if bounded:
        options["scan.bounded.mode"] = "latest-offset"
    body = ",\n".join(columns)
    return f"CREATE TABLE {quote_ident(table.name)} (\n{body}\n) {_with(options)};"


def jdbc_ddl(table: JdbcTable, jdbc: Mapping[str, str]) -> str:
    """``CREATE TABLE`` for one PostgreSQL table, every column the migrations define."""
    key = table.table.primary_key
    columns = [
        f"  {quote_ident(c.name)} {flink_type(c.pg_type)}" + (" NOT NULL" if c.name in key else "")
        for c in table.table.columns
    ]
    if key:
        columns.append(f"  PRIMARY KEY ({', '.join(map(quote_ident, key))}) NOT ENFORCED")
    options = {"connector": "jdbc", **jdbc, "table-name": table.table.name}
    body = ",\n".join(columns)
    return f"CREATE TABLE {quote_ident(table.name)} (\n{body}\n) {_with(options)};"


def settings(batch: bool) -> list[str]:
    """Session settings: runtime mode, UTC display, one slot per query, readable tableau rows."""
    values = {
        "execution.runtime-mode": "batch" if batch else "streaming",
        "table.local-time-zone": "UTC",
        "parallelism.default": "1",
        "pipeline.name": "driverpay-sql",
        "sql-client.execution.result-mode": "tableau",
        "sql-client.display.max-column-width": "64",
    }
    return [f"SET {quote_text(k)} = {quote_text(v)};" for k, v in values.items()]


def render_init(bootstrap: str, jdbc: Mapping[str, str], batch: bool) -> str:
    """The SQL client init file: settings, then every table."""
    header = [
        "-- Rendered by jobs/sql_catalog.py for scripts/stack/sql.sh: do not edit, do not share",
        "-- (it holds the driverpay_reader password; the file is mode 0600 and removed on exit).",
    ]
    ddl = [kafka_ddl(t, bootstrap, bounded=batch) for t in kafka_tables()]
    ddl += [jdbc_ddl(t, jdbc) for t in jdbc_tables()]
    return "\n".join([*header, *settings(batch), *ddl]) + "\n"


def reader_jdbc(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """JDBC options of the reader role: URL, username and its password from the pgpass file."""
    env = os.environ if environ is None else environ
    endpoints = Endpoints(kafka="", pg_dsn=env.get(READ_DSN_ENV) or DEFAULT_READ_DSN)
    return endpoints.jdbc()


def render_query(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each ``${name}`` replaced by ``values`` or its header default, quotes doubled.

    A header comment ``-- ${name} defaults to VALUE`` declares a variable; one left without a
    value is an error, so a query never runs with a placeholder in it.
    """
    defaults = dict(_DEFAULT.findall(text))
    merged = {**defaults, **values}
    missing = sorted(set(_VARIABLE.findall(text)) - set(merged))
    if missing:
        raise ValueError(f"no value for {', '.join(missing)}: pass -D name=value")
    unknown = sorted(set(values) - set(_VARIABLE.findall(text)))
    if unknown:
        raise ValueError(f"the query has no variable {', '.join(unknown)}")
    lines = text.splitlines(keepends=True)
    body = [ln if ln.lstrip().startswith("--") else _fill(ln, merged) for ln in lines]
    return "".join(body)


def _fill(line: str, values: Mapping[str, str]) -> str:
    return _VARIABLE.sub(lambda m: values[m.group(1)].replace("'", "''"), line)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (created 0600, never wider)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"\w+", name):
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    return name, value


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.sql_catalog init|query``: what scripts/stack/sql.sh renders."""
    parser = argparse.ArgumentParser(prog="jobs.sql_catalog", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="the catalog init file (mode 0600)")
    init.add_argument("--output", type=Path, required=True)
    init.add_argument("--batch", action="store_true", help="batch mode, bounded topic scans")
    query = commands.add_parser("query", help="a query file with its ${variables} filled")
    query.add_argument("file", type=Path)
    query.add_argument("--output", type=Path, required=True)
    query.add_argument("-D", dest="values", type=_assignment, action="append", default=[])
    args = parser.parse_args(argv)
    try:
        if args.command == "init":
            jdbc = reader_jdbc()
            if "password" not in jdbc:
                print(
                    "warning: no pgpass entry for the reader: pg_* tables will fail",
                    file=sys.stderr,
                )
            bootstrap = os.environ.get(KAFKA_ENV, DEFAULT_KAFKA)
            write_private(args.output, render_init(bootstrap, jdbc, args.batch))
        else:
            text = render_query(args.file.read_text(encoding="utf-8"), dict(args.values))
            write_private(args.output, text)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
