"""``make sql QUERY=...`` on the real stack: known events through the job, one ad-hoc file's rows.

Three orders of the README's worked example (zone ``sf``, 2026-11-24) and a re-sent event go
through Kafka and the submitted job into PostgreSQL; ``scripts/stack/sql.sh -f
sql/adhoc/driver_day.sql`` then prints exactly those lines and their total, read by Flink's SQL
client through the catalog's JDBC tables as ``driverpay_reader``.

The job runs at parallelism 1 (one task slot), so the query's batch job gets the cluster's
other slot; both are bounded in time, and the job is cancelled afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from driverpay.produce import produce
from driverpay.secrets import lookup_password
from tests.stack import stack

pytestmark = pytest.mark.stack
DRIVER = "d-sql"
DAY = "2026-11-24"
READ_DSN = "postgresql://driverpay_reader@127.0.0.1:5432/driverpay"
# (order, type, event time): 10:30-11:30, 13:00-13:10 and 17:30-18:30 Los Angeles time
EVENTS = [
    ("o-sql-1", "ACCEPTED", "2026-11-24T18:30:00Z"),
    ("o-sql-1", "DELIVERED", "2026-11-24T19:30:00Z"),
    ("o-sql-2", "ACCEPTED", "2026-11-24T21:00:00Z"),
    ("o-sql-2", "DELIVERED", "2026-11-24T21:10:00Z"),
    ("o-sql-3", "ACCEPTED", "2026-11-25T01:30:00Z"),
    ("o-sql-3", "DELIVERED", "2026-11-25T02:30:00Z"),
]
QUERY_TIMEOUT_S = 300


def event_line(order: str, kind: str, at: str) -> bytes:
    event = {
        "event_id": f"{order}-{kind}",
        "order_id": order,
        "driver_id": DRIVER,
        "type": kind,
        "event_time": at,
        "zone": "sf",
    }
    return json.dumps(event).encode()


def day_row() -> tuple[int, int] | None:
    with psycopg.connect(READ_DSN) as conn:
        row = conn.execute(
            "SELECT total_cents, line_count FROM driver_daily_pay "
            "WHERE driver_id = %s AND pay_date = %s",
            (DRIVER, DAY),
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else None


@pytest.fixture(scope="module")
def processed(real_stack: None) -> Iterator[None]:
    """A fresh stack state, the job at parallelism 1, the events produced and in PostgreSQL.

    The job takes two slots even at parallelism 1 (the archive writes with two writers,
    jobs/archive.py), so a second TaskManager gives the query its slot, as the README says.
    """
    stack.scale_taskmanagers(2)
    previous = os.environ.get("DRIVERPAY_PARALLELISM")
    os.environ["DRIVERPAY_PARALLELISM"] = "1"
    try:
        job = stack.fresh_start("driverpay-sql-test")
    finally:
        if previous is None:
            os.environ.pop("DRIVERPAY_PARALLELISM")
        else:
            os.environ["DRIVERPAY_PARALLELISM"] = previous
    try:
        stack.wait_for(lambda: stack.flink(f"/jobs/{job}")["state"] == "RUNNING", 120, "job")
        lines = [event_line(*e) for e in EVENTS]
        produce([*lines, lines[1]], stack.KAFKA)  # o-sql-1's delivery twice: paid once
        stack.wait_for(lambda: day_row() == (6150, 3), 180, "the day's total in PostgreSQL")
        yield
    finally:
        stack.flink(f"/jobs/{job}?mode=cancel", method="PATCH")
        stack.cancel_jobs()
        stack.scale_taskmanagers(1)


def run_sql(*args: str) -> str:
    """``scripts/stack/sql.sh`` with ``args``; its output, or a failure after the time bound."""
    stack.wait_for(lambda: stack.flink("/overview")["slots-available"] >= 1, 60, "a free task slot")
    proc = subprocess.Popen(
        [str(stack.ROOT / "scripts/stack/sql.sh"), *args],
        cwd=stack.ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the client JVM goes with it
    )
    try:
        out, _ = proc.communicate(timeout=QUERY_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"sql.sh {' '.join(args)} ran over {QUERY_TIMEOUT_S}s") from None
    assert proc.returncode == 0, out
    return out


def result_tables(output: str) -> list[list[list[str]]]:
    """The rows (header first) of each tableau result the SQL client printed."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in output.splitlines():
        if line.startswith("|"):
            current.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif current and not line.startswith("+"):
            tables.append(current)
            current = []
    return [*tables, current] if current else tables


def test_driver_day_query_prints_the_days_lines_and_total_exactly(processed: None) -> None:
    output = run_sql(
        "-f", "sql/adhoc/driver_day.sql", "-D", f"driver={DRIVER}", "-D", f"date={DAY}"
    )
    lines, total = result_tables(output)
    assert lines == [
        ["kind", "order_id", "start_ts", "end_ts", "amount", "currency", "reason"],
        ["LINE", "o-sql-1", at("24 18:30"), at("24 19:30"), "27.0000", "USD", "<NULL>"],
        ["LINE", "o-sql-2", at("24 21:00"), at("24 21:10"), "3.0000", "USD", "<NULL>"],
        ["LINE", "o-sql-3", at("25 01:30"), at("25 02:30"), "31.5000", "USD", "<NULL>"],
    ]
    header = ["total_cents", "currency", "line_count", "version", "final", "post_final"]
    assert total == [
        [*header, "as_of", "lines_cents"],
        ["6150", "USD", "3", "3", "FALSE", "FALSE", at("25 02:30"), "6150"],
    ]


def test_the_readers_password_is_left_in_no_log_history_or_file_of_the_session(
    processed: None,
) -> None:
    run_sql("-f", "sql/adhoc/driver_day.sql", "-D", f"driver={DRIVER}", "-D", f"date={DAY}")
    password = lookup_password("127.0.0.1", 5432, "driverpay", "driverpay_reader")
    assert password
    client_logs = list((stack.ROOT / ".run/flink/log").glob("flink-*-sql-client-*.log"))
    assert client_logs
    left = [
        *client_logs,
        *(stack.ROOT / ".run").rglob("sql/**/*"),
        Path.home() / ".flink-sql-history",
    ]
    assert [p for p in left if p.is_file() and password.encode() in p.read_bytes()] == []


def at(day_time: str) -> str:
    """How the SQL client prints a UTC instant of 2026-11-``day_time``."""
    day, hh_mm = day_time.split()
    return f"2026-11-{day} {hh_mm}:00.000"
