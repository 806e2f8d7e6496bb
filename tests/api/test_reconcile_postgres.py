"""``driverpay reconcile`` reads back from PostgreSQL exactly the lines the job streamed.

Rows are written as the job's JDBC sink writes them: each ledger record through the column
list derived from sql/migrations and the field renames of jobs/pg_schema.py (``RECORD_FIELD``),
with the sink's Flink types (DECIMAL scales, millisecond timestamps), as the job's own role.
``read_postgres`` must then rebuild the same ``line_id``, ``interval_key`` and record, which is
what lets the daily stage accept a reversal reconcile builds from a PostgreSQL row.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql

from driverpay.reconcile import PG_FETCH_ROWS, read_postgres
from jobs.pg_schema import RECORD_FIELD, flink_type, read_migrations, sink_columns
from tests.api.conftest import OWNER_DSN, READER_DSN, WRITER_DSN
from udfs.ledger import LineKind, PaidInterval, PayLine, lines_for
from udfs.lifecycle import reverse
from udfs.reconcile import line_from_record
from udfs.timefmt import parse_rfc3339_ms, to_datetime
from udfs.zones import Zones, load_zones

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
RENAMED = RECORD_FIELD
NEW_COLUMNS = (
    "interval_start",
    "interval_end",
    "start_event_id",
    "end_event_id",
    "end_type",
    "schedule_version",
)
ET = "-05:00"  # New York in November


@pytest.fixture(scope="module")
def zones() -> Zones:
    return load_zones(ROOT / "config" / "zones.yaml")


@pytest.fixture
def driver(postgres: None) -> Iterator[str]:
    """A driver id of this test only; its rows are removed afterwards (the job's role cannot)."""
    name = f"reconcile-pg-{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(OWNER_DSN) as conn:
        conn.execute("DELETE FROM pay_lines WHERE driver_id = %s", (name,))


def ms(text: str) -> int:
    return parse_rfc3339_ms(text)


def sink_row(line: PayLine) -> dict[str, Any]:
    """``line`` as the JDBC sink writes it: migrated columns, Flink's types and scales."""
    record = line.to_record()
    row: dict[str, Any] = {}
    for column, dtype in sink_columns(read_migrations()["pay_lines"]):
        value = record[RENAMED.get(column, column)]
        scale = re.fullmatch(r"DECIMAL\(\d+, (\d+)\)", dtype)
        if value is None:
            row[column] = None
        elif scale:
            row[column] = Decimal(str(value)).quantize(Decimal(1).scaleb(-int(scale.group(1))))
        elif dtype == "TIMESTAMP(3)":
            row[column] = to_datetime(ms(value))
        elif dtype == "DATE":
            row[column] = date.fromisoformat(value)
        else:
            row[column] = value
    return row


def write_as_the_job(lines: list[PayLine]) -> None:
    rows = [sink_row(line) for line in lines]
    insert = sql.SQL("INSERT INTO pay_lines ({}) VALUES ({})").format(
        sql.SQL(", ").join(map(sql.Identifier, rows[0])),
        sql.SQL(", ").join(map(sql.Placeholder, rows[0])),
    )
    with psycopg.connect(WRITER_DSN) as conn:
        conn.cursor().executemany(insert, rows)


def read_back(driver: str, days: set[date]) -> dict[str, PayLine]:
    found = {}
    for day in sorted(days):
        with read_postgres(WRITER_DSN, day.isoformat()) as side:
            for line in side.lines():
                if line.interval.driver_id == driver:
                    found[line.line_id] = line
    return found


def nyc_lines(driver: str, zones: Zones) -> list[PayLine]:
    """A LINE, its REVERSAL, an ADJUSTMENT, and a LINE across local midnight (two days).

    The first interval lies in the 1.5x peak and lasts an odd number of ms: a fractional weight.
    """
    paid = PaidInterval(
        "o-peak", driver, "nyc", ms(f"2026-11-24T13:40:00.001{ET}"),
        ms(f"2026-11-24T14:05:00{ET}"), "e-acc", "e-del", "DELIVERED",
    )  # fmt: skip
    (line,) = lines_for(paid, zones)
    corrected = replace(paid, end_ms=ms(f"2026-11-24T14:10:00{ET}"), end_event_id="e-del-2")
    (adjusted,) = lines_for(corrected, zones, LineKind.ADJUSTMENT, "late DELIVERED e-del-2", 1)
    night = PaidInterval(
        "o-night", driver, "nyc", ms(f"2026-11-24T23:35:00{ET}"),
        ms(f"2026-11-25T00:20:00{ET}"), "e-acc-n", "e-can-n", "CANCELLED",
    )  # fmt: skip
    return [line, reverse(line, "late DELIVERED e-del-2"), adjusted, *lines_for(night, zones)]


def test_lines_read_back_from_postgres_are_the_streamed_lines(driver: str, zones: Zones) -> None:
    streamed = nyc_lines(driver, zones)
    assert [x.kind for x in streamed] == ["LINE", "REVERSAL", "ADJUSTMENT", "LINE", "LINE"]
    assert streamed[0].weighted_ms != streamed[0].weighted_ms.to_integral_value()
    assert streamed[3].pay_date != streamed[4].pay_date
    write_as_the_job(streamed)

    rebuilt = read_back(driver, {x.pay_date for x in streamed})

    assert sorted(rebuilt) == sorted(x.line_id for x in streamed)
    for original in streamed:
        line = rebuilt[original.line_id]
        assert line.interval_key == original.interval_key
        assert line.to_json() == original.to_json()


# Ids whose byte (code point) order differs from a natural-language collation's, where Z < a,
# "Ärger" sorts with "a" and "ß" with "ss". Reconcile merges PostgreSQL's order with the
# recompute's byte order, so it must be bytes whatever the database's locale.
BYTE_ORDER = ("Zed", "ab", "alpha", "z", "Ärger", "ß")
STREAMED_LINES = 20_000


@pytest.fixture
def far_day(postgres: None) -> Iterator[date]:
    """A date of this test only (no other test writes after 2030); its rows go afterwards."""
    day = date(2031, 1, 1) + timedelta(days=uuid.uuid4().int % 3000)
    yield day
    with psycopg.connect(OWNER_DSN) as conn:
        conn.execute("DELETE FROM pay_lines WHERE pay_date = %s", (day,))


def in_byte_order(day: date, zones: Zones, count: int, first: int = 0) -> list[PayLine]:
    """``count`` ten-minute lines of ``day`` in New York, dealt to the BYTE_ORDER drivers."""
    noon = int(datetime.combine(day, time(12), ZoneInfo("America/New_York")).timestamp() * 1000)
    return [
        only
        for i in range(first, first + count)
        for only in lines_for(
            PaidInterval(f"o-{i}", BYTE_ORDER[i % len(BYTE_ORDER)], "nyc", noon + i,
                         noon + 600_000 + i, f"a-{i}", f"d-{i}", "DELIVERED"),
            zones,
        )
    ]  # fmt: skip


def test_the_lines_stream_in_byte_order_and_are_not_held(far_day: date, zones: Zones) -> None:
    write_as_the_job(in_byte_order(far_day, zones, STREAMED_LINES))

    with read_postgres(WRITER_DSN, far_day.isoformat()) as side:
        streamed = side.lines()
        drivers = [next(streamed).interval.driver_id]
        # The rows are fetched from a cursor the server keeps open, PG_FETCH_ROWS at a time; a
        # client-side cursor would have had PostgreSQL send every row before the first line.
        assert fetching_sessions() == [f'FETCH FORWARD {PG_FETCH_ROWS} FROM "reconcile_pay_lines"']
        count = 1
        for line in streamed:
            count += 1
            if drivers[-1] != line.interval.driver_id:
                drivers.append(line.interval.driver_id)

    assert drivers == sorted(BYTE_ORDER) == list(BYTE_ORDER)
    assert count == STREAMED_LINES
    assert fetching_sessions() == []


def test_every_pass_over_the_lines_sees_the_snapshot_the_totals_came_from(
    far_day: date, zones: Zones
) -> None:
    """The job may write while reconcile recomputes; both passes must read what the totals saw."""
    write_as_the_job(in_byte_order(far_day, zones, 30))

    with read_postgres(WRITER_DSN, far_day.isoformat()) as side:
        first = [line.line_id for line in side.lines()]
        write_as_the_job(in_byte_order(far_day, zones, 30, first=30))  # committed meanwhile
        second = [line.line_id for line in side.lines()]

    assert len(first) == 30
    assert sorted(second) == sorted(first)
    with read_postgres(WRITER_DSN, far_day.isoformat()) as later:
        assert len(list(later.lines())) == 60


def fetching_sessions() -> list[str]:
    """The last statement of each session of the job's role that is fetching from a cursor."""
    with psycopg.connect(WRITER_DSN) as conn:
        rows = conn.execute(
            "SELECT query FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND usename = current_user AND query LIKE 'FETCH%'"
        ).fetchall()
    return [query for (query,) in rows]


def test_a_reversal_reconcile_builds_from_a_row_cancels_the_streamed_interval(
    driver: str, zones: Zones
) -> None:
    line = nyc_lines(driver, zones)[0]
    write_as_the_job([line])
    (rebuilt,) = read_back(driver, {line.pay_date}).values()
    ours, theirs = reverse(rebuilt, "reconcile"), reverse(line, "reconcile")
    assert (ours.line_id, ours.interval_key) == (theirs.line_id, theirs.interval_key)


def test_a_row_written_before_migration_003_keeps_the_fallback_identity(
    driver: str, zones: Zones
) -> None:
    line = nyc_lines(driver, zones)[
        -1
    ]  # the after-midnight part: its bounds are not the interval's
    row = {k: (None if k in NEW_COLUMNS else v) for k, v in sink_row(line).items()}
    old = [k for k in row if k not in NEW_COLUMNS]
    with psycopg.connect(WRITER_DSN) as conn:
        conn.execute(
            sql.SQL("INSERT INTO pay_lines ({}) VALUES ({})").format(
                sql.SQL(", ").join(map(sql.Identifier, old)),
                sql.SQL(", ").join(map(sql.Placeholder, old)),
            ),
            row,
        )
    (rebuilt,) = read_back(driver, {line.pay_date}).values()
    without = {k: v for k, v in line.to_record().items() if k not in NEW_COLUMNS}
    assert rebuilt.line_id == line.line_id
    assert rebuilt.interval_key == line_from_record(without).interval_key != line.interval_key
    assert (rebuilt.interval.start_ms, rebuilt.interval.start_event_id) == (line.start_ms, "")


def test_a_rate_comes_back_as_its_shortest_exact_text(driver: str, zones: Zones) -> None:
    """The sink writes rates as DECIMAL(38, 6): sf's "0.30" is stored 0.300000, read "0.3"."""
    paid = PaidInterval(
        "o-sf", driver, "sf", ms("2026-11-24T10:00:00-08:00"), ms("2026-11-24T10:30:00-08:00"),
        "e-1", "e-2", "DELIVERED",
    )  # fmt: skip
    (line,) = lines_for(paid, zones)
    write_as_the_job([line])
    (rebuilt,) = read_back(driver, {line.pay_date}).values()
    assert (rebuilt.line_id, rebuilt.interval_key) == (line.line_id, line.interval_key)
    assert (str(line.rate_per_minute), str(rebuilt.rate_per_minute)) == ("0.30", "0.3")
    assert rebuilt.to_record() == {**line.to_record(), "rate_per_minute": "0.3"}


@pytest.mark.parametrize("table", ["pay_lines", "driver_daily_pay"])
def test_the_live_table_is_what_the_migrations_say(postgres: None, table: str) -> None:
    with psycopg.connect(OWNER_DSN) as conn:
        live = conn.execute(
            "SELECT column_name, data_type, numeric_precision, numeric_scale"
            " FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
            (table,),
        ).fetchall()
    declared = read_migrations()[table].columns
    assert [(c.name, flink_type(c.pg_type)) for c in declared] == [
        (name, flink_type(f"numeric({p}, {s})" if kind == "numeric" and p else kind))
        for name, kind, p, s in live
    ]


@pytest.mark.parametrize("column", NEW_COLUMNS)
def test_the_table_grants_cover_the_new_columns(postgres: None, column: str) -> None:
    """002 grants on the table, not per column, so 003 needs no grant of its own."""
    check = "SELECT has_column_privilege(%s, 'pay_lines', %s, %s)"
    with psycopg.connect(OWNER_DSN) as conn:
        granted = {
            (role, privilege): conn.execute(check, (role, column, privilege)).fetchone()
            for role in ("driverpay", "driverpay_reader")
            for privilege in ("SELECT", "INSERT", "UPDATE")
        }
    assert granted == {
        ("driverpay", "SELECT"): (True,),
        ("driverpay", "INSERT"): (True,),
        ("driverpay", "UPDATE"): (True,),
        ("driverpay_reader", "SELECT"): (True,),
        ("driverpay_reader", "INSERT"): (False,),
        ("driverpay_reader", "UPDATE"): (False,),
    }
    with psycopg.connect(READER_DSN) as conn:
        conn.execute(f"SELECT {column} FROM pay_lines LIMIT 1")  # the read API's role can read it


def test_the_reconcile_command_finds_the_stacks_password_file_by_itself(
    postgres: None, tmp_path: Path
) -> None:
    """README's on-call steps run ``driverpay reconcile`` with no PGPASSFILE exported.

    The DSN carries no password, so without the stack's file libpq connects with none and
    the command failed (exit 1, ``no password supplied``). Reaching the archive check proves
    the streamed side was read: PostgreSQL is asked first.
    """
    versions = tmp_path / "versions.jsonl"
    versions.write_text("")
    env = {k: v for k, v in os.environ.items() if k != "PGPASSFILE"}
    command = ["reconcile", "--date", "2031-01-01", "--archive", str(tmp_path), "--json"]
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "driverpay"), *command, "--zones-versions", str(versions)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert "password" not in done.stderr
    assert (
        done.stderr.strip() == f"error: archive {tmp_path} has no events on 2031-01-01 for any zone"
    )
    assert done.returncode == 2
