"""The ``make sql`` catalog and query files, rendered without Flink (tests/flink parses them)."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from jobs.sql_catalog import (
    jdbc_tables,
    kafka_tables,
    render_init,
    render_query,
    write_private,
)
from udfs.events import parse_event
from udfs.zones import load_zones

ROOT = Path(__file__).resolve().parents[2]
JDBC = {"url": "jdbc:postgresql://h:5432/d", "username": "driverpay_reader", "password": "s3cr'et"}
QUERY = """-- header: ${driver} defaults to d00001
-- ${date} defaults to 2026-11-24
SELECT * FROM t WHERE driver_id = '${driver}' AND pay_date = DATE '${date}';
"""


def test_a_query_takes_its_header_defaults_and_given_values_with_quotes_doubled() -> None:
    assert render_query(QUERY, {}).splitlines()[2] == (
        "SELECT * FROM t WHERE driver_id = 'd00001' AND pay_date = DATE '2026-11-24';"
    )
    given = render_query(QUERY, {"driver": "o'brien"}).splitlines()
    assert (
        given[2] == "SELECT * FROM t WHERE driver_id = 'o''brien' AND pay_date = DATE '2026-11-24';"
    )
    assert given[:2] == QUERY.splitlines()[:2]  # the header documents the variables, unfilled


def test_a_query_refuses_a_variable_without_value_or_a_value_without_variable() -> None:
    with pytest.raises(ValueError, match="no value for driver"):
        render_query("SELECT '${driver}';", {})
    with pytest.raises(ValueError, match="has no variable zone"):
        render_query(QUERY, {"zone": "sf"})


def test_the_rendered_init_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        write_private(tmp_path / "sql" / "init.sql", "SET 'a' = 'b';\n")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "sql" / "init.sql").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "sql").stat().st_mode) == 0o700


def test_the_password_is_only_in_the_password_option_of_each_jdbc_table() -> None:
    lines = render_init("127.0.0.1:9092", JDBC, batch=True).splitlines()
    holding = [line.strip() for line in lines if "s3cr" in line]
    assert holding == ["'password' = 's3cr''et',"] * len(jdbc_tables())


def test_batch_mode_bounds_every_topic_scan_and_streaming_mode_none() -> None:
    batch = render_init("127.0.0.1:9092", JDBC, batch=True)
    streaming = render_init("127.0.0.1:9092", JDBC, batch=False)
    assert batch.count("'scan.bounded.mode' = 'latest-offset'") == len(kafka_tables())
    assert "scan.bounded.mode" not in streaming
    assert "SET 'execution.runtime-mode' = 'batch';" in batch
    assert "SET 'execution.runtime-mode' = 'streaming';" in streaming


def migration_columns(table: str) -> list[str]:
    """The table's columns as the migration files create and extend them, read with a regex.

    Deliberately not ``jobs.pg_schema.read_migrations``, which the catalog is built from.
    """
    columns: list[str] = []
    for path in sorted((ROOT / "sql" / "migrations").glob("*.sql")):
        sql = re.sub(r"--[^\n]*", "", path.read_text())
        created = re.search(rf"CREATE TABLE {table} \((.*?)\n\);", sql, re.S)
        if created:
            lines = [line.strip() for line in created.group(1).splitlines() if line.strip()]
            columns += [line.split()[0] for line in lines if not line.startswith("PRIMARY KEY")]
        altered = re.search(rf"ALTER TABLE {table}\b(.*?);", sql, re.S)
        if altered:
            columns += re.findall(r"ADD COLUMN\s+(\w+)", altered.group(1))
    return columns


def test_the_postgres_tables_have_every_migration_column_in_order() -> None:
    ddl = render_init("127.0.0.1:9092", JDBC, batch=False)
    for sink, table in (("pg_pay_lines", "pay_lines"), ("pg_driver_daily_pay", "driver_daily_pay")):
        block = ddl.split(f"CREATE TABLE `{sink}` (", 1)[1].split(") WITH (", 1)[0]
        rendered = re.findall(r"^  `(\w+)` ", block, re.M)
        assert rendered == migration_columns(table)
        assert "recorded_at" in rendered or "updated_at" in rendered  # server-managed kept


def test_a_document_with_the_input_tables_fields_is_a_valid_event_and_each_one_counts() -> None:
    fields = dict(next(t for t in kafka_tables() if t.name == "order_events").fields)
    zones = load_zones(ROOT / "config" / "zones.yaml")
    sample = {
        "event_id": "e1",
        "order_id": "o1",
        "driver_id": "d1",
        "type": "ACCEPTED",
        "event_time": "2026-11-24T17:05:03.120+02:00",
        "zone": "sf",
        "schema_version": 1,
    }
    assert set(fields) == set(sample)
    assert parse_event(json.dumps(sample), zones).event_id == "e1"
    wrong = {"schema_version": 2}  # optional, but read: another major version is malformed
    for name in fields:
        broken = {k: v for k, v in sample.items() if k != name}
        if name in wrong:
            broken[name] = wrong[name]
        with pytest.raises(ValueError, match=name):
            parse_event(json.dumps(broken), zones)
