"""The Flink JDBC sink columns and the daily stage's typed rows follow sql/migrations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jobs.pg_schema import (
    PgColumn,
    flink_type,
    insert_sql,
    parse_migrations,
    read_migrations,
    row_values,
    sink_columns,
    split_statements,
    typed_columns,
)
from udfs.ledger import LineKind, PaidInterval, lines_for
from udfs.zones import load_zones

ROOT = Path(__file__).resolve().parents[2]

TWO_MIGRATIONS = [
    """
    -- a comment; with a semicolon
    CREATE TABLE t (
        id        text PRIMARY KEY,
        amount    numeric(18, 4) NOT NULL,
        weight    numeric,
        seen_at   timestamptz DEFAULT now(),
        paid      boolean NOT NULL DEFAULT false
    );
    CREATE TABLE d (a text NOT NULL, b date NOT NULL, n int, PRIMARY KEY (a, b));
    CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN NEW.n := 1; RETURN NEW; END $$;
    GRANT SELECT ON t TO someone;
    """,
    "ALTER TABLE t ADD COLUMN extra_id text, ADD COLUMN extra_at timestamptz;",
]


def test_a_dollar_quoted_body_and_comments_do_not_split_statements() -> None:
    statements = split_statements(TWO_MIGRATIONS[0])
    assert len(statements) == 4
    assert statements[2].endswith("RETURN NEW; END $$")
    assert not any("comment" in s for s in statements)


def test_create_then_alter_gives_the_columns_in_physical_order_with_their_keys() -> None:
    tables = parse_migrations(TWO_MIGRATIONS)
    t = tables["t"]
    assert [c.name for c in t.columns] == [
        "id",
        "amount",
        "weight",
        "seen_at",
        "paid",
        "extra_id",
        "extra_at",
    ]
    assert t.primary_key == ("id",)
    assert t.columns[1] == PgColumn("amount", "numeric(18, 4)", not_null=True)
    assert tables["d"].primary_key == ("a", "b")


def test_the_sink_writes_every_column_but_those_the_server_fills() -> None:
    t = parse_migrations(TWO_MIGRATIONS)["t"]
    assert sink_columns(t) == [
        ("id", "STRING NOT NULL"),
        ("amount", "DECIMAL(18, 4)"),
        ("weight", "DECIMAL(38, 6)"),
        ("paid", "BOOLEAN"),
        ("extra_id", "STRING"),
        ("extra_at", "TIMESTAMP(3)"),
    ]


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE t DROP COLUMN weight",
        "ALTER TABLE t RENAME COLUMN weight TO w",
        "ALTER TABLE t ALTER COLUMN weight TYPE text",
        "ALTER TABLE t ADD CONSTRAINT positive CHECK (amount > 0)",
    ],
)
def test_a_change_the_parser_does_not_understand_fails_loudly(change: str) -> None:
    with pytest.raises(ValueError, match="does not understand"):
        parse_migrations([*TWO_MIGRATIONS, change])


def test_a_postgres_type_without_a_flink_mapping_fails_loudly() -> None:
    assert flink_type("NUMERIC( 10 ,2 )") == "DECIMAL(10, 2)"
    with pytest.raises(ValueError, match="jsonb"):
        flink_type("jsonb")


def test_pay_lines_sink_carries_the_interval_identity_of_migration_003() -> None:
    pay_lines = dict(sink_columns(read_migrations()["pay_lines"]))
    assert {k: pay_lines[k] for k in list(pay_lines)[-6:]} == {
        "interval_start": "TIMESTAMP(3)",
        "interval_end": "TIMESTAMP(3)",
        "start_event_id": "STRING",
        "end_event_id": "STRING",
        "end_type": "STRING",
        "schedule_version": "STRING",
    }
    assert pay_lines["line_id"] == "STRING NOT NULL"
    assert "recorded_at" not in pay_lines


def test_driver_daily_pay_sink_leaves_the_trigger_managed_updated_at_to_postgres() -> None:
    daily = read_migrations()["driver_daily_pay"]
    assert daily.primary_key == ("driver_id", "pay_date")
    assert [name for name, _ in sink_columns(daily)] == [
        "driver_id",
        "pay_date",
        "total_cents",
        "currency",
        "line_count",
        "version",
        "final",
        "post_final",
        "as_of",
    ]


def _insert(table: str) -> str:
    return insert_sql(f"pg_{table}", typed_columns(read_migrations()[table]), "rows", "f1")


@pytest.mark.parametrize("table", ["pay_lines", "driver_daily_pay"])
def test_the_jdbc_insert_writes_every_migrated_column_in_order(table: str) -> None:
    select = _insert(table).split("SELECT", 1)[1].rsplit("FROM", 1)[0]
    written = re.findall(r"f1\.`(\w+)`", select)
    assert written == [column for column, _ in sink_columns(read_migrations()[table])]


def test_the_typed_row_carries_text_for_dates_instants_and_decimals_and_sql_casts_it() -> None:
    columns = {c.name: c for c in typed_columns(read_migrations()["pay_lines"])}
    assert (columns["pay_date"].carrier, columns["pay_date"].sql("r")) == (
        "STRING",
        "CAST(r.`pay_date` AS DATE)",
    )
    assert columns["amount"].sql("r") == "CAST(r.`amount` AS DECIMAL(18, 4))"
    assert columns["start_ts"].field == "start"
    assert columns["start_ts"].sql("r").startswith("TO_TIMESTAMP(REPLACE(REPLACE(r.`start_ts`")
    assert (columns["amount_cents"].carrier, columns["amount_cents"].sql("r")) == (
        "BIGINT",
        "r.`amount_cents`",
    )
    assert "JSON_VALUE" not in _insert("pay_lines") + _insert("driver_daily_pay")


def _ledger_record() -> dict[str, object]:
    zones = load_zones(ROOT / "config" / "zones.yaml")
    interval = PaidInterval("o", "d", "sf", 1_795_000_000_000, 1_795_000_600_000, "a", "b", "X")
    return lines_for(interval, zones, LineKind.LINE)[0].to_record()


def test_pay_lines_stores_every_field_of_a_ledger_record_and_nothing_else() -> None:
    fields = [c.field for c in typed_columns(read_migrations()["pay_lines"])]
    assert sorted(fields) == sorted(_ledger_record())


def test_a_ledger_record_becomes_the_typed_row_in_column_order() -> None:
    record = _ledger_record()
    columns = typed_columns(read_migrations()["pay_lines"])
    values = dict(zip([c.name for c in columns], row_values(record, columns), strict=True))
    assert values["start_ts"] == record["start"] == "2026-11-18T11:06:40.000Z"
    assert values["amount_cents"] == record["amount_minor"]
    assert isinstance(values["amount_cents"], int)
    assert values["weighted_ms"] == str(record["weighted_ms"])
    assert values["reason"] is None


def test_a_record_missing_a_column_fails_loudly() -> None:
    columns = typed_columns(read_migrations()["driver_daily_pay"])
    with pytest.raises(KeyError, match="as_of"):
        row_values({"driver_id": "d", "pay_date": "2026-11-24"}, columns[:1] + columns[-1:])
