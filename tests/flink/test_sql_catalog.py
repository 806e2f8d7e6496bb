"""The ``make sql`` catalog (jobs/sql_catalog.py) against Flink's own parser and the job's output.

- Every ad-hoc query of ``sql/adhoc/`` plans against the catalog (names, types, functions).
- Every record the real job writes parses into its topic's table with the catalog's types, and
  no field of it is lost (a key missing from the table, or a value that parses to NULL).
- The input table's ``event_ts`` is the instant the job's parser reads from ``event_time``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pyflink.table import EnvironmentSettings, TableEnvironment

from jobs.embedded import run_file
from jobs.jars import CONNECTORS, jars_in
from jobs.pg_schema import split_statements
from jobs.settings import JobSettings
from jobs.sql_catalog import (
    EVENT_TIME_SQL,
    KafkaTable,
    kafka_tables,
    quote_ident,
    render_init,
    render_query,
)
from tests.flink.conftest import TEST_FLINK, Run
from tests.hostile import corpus as hostile
from udfs.timefmt import TimestampError, format_ms, parse_rfc3339_ms
from udfs.zones import load_zones

pytestmark = pytest.mark.flink
ROOT = Path(__file__).resolve().parents[2]
ZONES = ROOT / "config" / "zones.yaml"
ADHOC = sorted((ROOT / "sql" / "adhoc").glob("*.sql"))
# The embedded run's outputs (jobs/embedded.py OUTPUTS) and the topic tables they are written to.
OUTPUT_TABLES = {
    "pay_ledger": "pay_ledger",
    "driver_daily_pay": "driver_daily_pay",
    "dead_letter": "order_events_dlq",
    "quarantine": "order_events_quarantine",
    "audit": "order_events_audit",
}
JDBC = {"url": "jdbc:postgresql://127.0.0.1:5432/driverpay", "username": "u", "password": "p"}


@pytest.fixture(scope="module")
def t_env() -> TableEnvironment:
    env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    jars = jars_in(CONNECTORS)
    env.get_config().set("pipeline.jars", ";".join(jar.as_uri() for jar in jars))
    env.get_config().set("table.local-time-zone", "UTC")
    env.get_config().set("parallelism.default", "1")
    return env


def table(name: str) -> KafkaTable:
    return next(t for t in kafka_tables() if t.name == name)


def file_table(
    t_env: TableEnvironment, name: str, fields: tuple[tuple[str, str], ...], path: Path
) -> None:
    """The topic's JSON fields over a file, parsed as strictly as the catalog parses outputs."""
    columns = ", ".join(f"{quote_ident(n)} {t}" for n, t in fields)
    t_env.execute_sql(f"DROP TEMPORARY TABLE IF EXISTS {name}")
    t_env.execute_sql(
        f"CREATE TEMPORARY TABLE {name} ({columns}) WITH ('connector' = 'filesystem', "
        f"'path' = '{path}', 'format' = 'json', 'json.timestamp-format.standard' = 'ISO-8601')"
    )


@pytest.mark.parametrize("query", ADHOC, ids=[q.stem for q in ADHOC])
def test_each_adhoc_query_plans_against_the_catalog(t_env: TableEnvironment, query: Path) -> None:
    for statement in split_statements(render_init("127.0.0.1:9092", JDBC, batch=True)):
        if statement.startswith("CREATE TABLE"):
            name = statement.split("`")[1]
            t_env.execute_sql(f"DROP TEMPORARY TABLE IF EXISTS `{name}`")
            t_env.execute_sql(statement.replace("CREATE TABLE", "CREATE TEMPORARY TABLE", 1))
    statements = split_statements(render_query(query.read_text(), {}))
    assert statements
    for statement in statements:
        assert "TableSourceScan(table=[[default_catalog" in t_env.explain_sql(statement)


def test_every_record_the_job_writes_parses_into_its_topic_table_losing_no_field(
    t_env: TableEnvironment, run: Run, tmp_path: Path
) -> None:
    for output, name in OUTPUT_TABLES.items():
        records = run.records(output)
        assert records, f"the scenario writes {output}"
        fields = table(name).fields
        columns = {n for n, _ in fields}
        assert {k for r in records for k in r} <= columns, name
        path = tmp_path / f"{output}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        file_table(t_env, name, fields, path)
        counts = ", ".join(f"COUNT({quote_ident(n)})" for n, _ in fields)
        with t_env.execute_sql(f"SELECT COUNT(*), {counts} FROM {name}").collect() as rows:
            parsed = list(next(iter(rows)))
        expected = [len(records)] + [sum(r.get(n) is not None for r in records) for n, _ in fields]
        assert parsed == expected, name


def test_a_line_beyond_retention_audit_parses_with_its_whole_line(
    t_env: TableEnvironment, tmp_path: Path
) -> None:
    """The one audit shape the catalog states itself (an inline dict of the daily stage)."""
    late = [
        hostile.dump(hostile.event(f"late-{k}", "o-late", "d-late", k, hostile.at(t)))
        for k, t in (("ACCEPTED", "22:00"), ("DELIVERED", "22:30"))
    ]
    lines = hostile.fillers(300, "2026-11-24", "20:00") + hostile.fillers(
        300, "2026-11-25", "02:30"
    )
    (tmp_path / "in.jsonl").write_bytes(b"\n".join([*lines, *late]) + b"\n")
    settings = JobSettings(daily_retention_ms=3_600_000, flink_options=TEST_FLINK)
    result = run_file(tmp_path / "in.jsonl", tmp_path / "out", load_zones(ZONES), settings)
    beyond = [r for r in result.records["audit"] if r["kind"] == "LINE_BEYOND_RETENTION"]
    assert len(beyond) == 1
    path = tmp_path / "audit.jsonl"
    path.write_text(json.dumps(beyond[0]) + "\n")
    file_table(t_env, "beyond", table("order_events_audit").fields, path)
    line = beyond[0]["line"]
    columns = ", ".join(f"CAST(`line`.{quote_ident(k)} AS STRING)" for k in line)
    with t_env.execute_sql(f"SELECT {columns} FROM beyond").collect() as rows:
        parsed = list(next(iter(rows)))
    assert [v is None for v in parsed] == [v is None for v in line.values()]
    typed = dict(zip(line, parsed, strict=True))
    assert (typed["line_id"], typed["amount"], typed["end"]) == (
        line["line_id"],
        "9.0000",
        "2026-11-25 06:30:00.000",
    )


CONTRACT_TIMES = [
    "2026-11-24T17:05:03.120Z",
    "2026-11-24T17:05:03Z",
    "2026-11-24T17:05:03.123456789+02:00",
    "2026-11-24 23:59:59.9-05:30",
    "2026-11-24t00:00:00.1z",
    "1999-12-31T23:59:59.999-01:00",
    "2026-11-24T17:05:03",
    "yesterday",
]


def test_order_events_event_ts_is_the_instant_the_parser_reads(
    t_env: TableEnvironment, tmp_path: Path
) -> None:
    path = tmp_path / "times.jsonl"
    path.write_text("".join(json.dumps({"event_time": t}) + "\n" for t in CONTRACT_TIMES))
    file_table(t_env, "times", (("event_time", "STRING"),), path)
    sql = f"SELECT `event_time`, CAST({EVENT_TIME_SQL} AS STRING) FROM times"
    with t_env.execute_sql(sql).collect() as rows:
        got = {r[0]: r[1] for r in rows}
    assert got == {t: expected_text(t) for t in CONTRACT_TIMES}


def expected_text(text: str) -> Any:
    """How Flink prints the instant (UTC session), or None where the contract refuses it."""
    try:
        ms = parse_rfc3339_ms(text)
    except TimestampError:
        return None
    return format_ms(ms).replace("T", " ").removesuffix("Z")
