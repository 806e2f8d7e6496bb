"""The Flink JDBC sink columns follow sql/migrations, and sql/pg_sinks.sql selects exactly them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jobs.pg_schema import (
    PgColumn,
    flink_type,
    parse_migrations,
    read_migrations,
    sink_columns,
    split_statements,
)
from udfs.ledger import LineKind, PaidInterval, lines_for
from udfs.zones import load_zones

ROOT = Path(__file__).resolve().parents[2]
SINKS_SQL = ROOT / "sql" / "pg_sinks.sql"
# Ledger/daily record fields whose column is named differently.
RENAMED = {"start": "start_ts", "end": "end_ts", "amount_minor": "amount_cents"}

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


def _select_lists() -> dict[str, list[tuple[str, str]]]:
    """Per sink table of pg_sinks.sql: ``(record field, Flink type the expression yields)``."""
    out = {}
    for statement in split_statements(SINKS_SQL.read_text()):
        head = re.match(r"INSERT INTO pg_(\w+)\s+SELECT\s+(.*)\s+FROM \w+$", statement, re.DOTALL)
        assert head, statement
        items = []
        for expression in re.split(r",\s*\n", head.group(2)):
            field = re.search(r"JSON_VALUE\(json, '\$\.(\w+)'\)", expression)
            assert field, expression
            cast = re.match(r"CAST\(.* AS (.+)\)$", expression.strip())
            if cast:
                kind = cast.group(1)
            elif expression.strip().startswith("TO_TIMESTAMP("):
                kind = "TIMESTAMP(3)"
            else:
                kind = "STRING"
            items.append((field.group(1), kind))
        out[head.group(1)] = items
    return out


@pytest.mark.parametrize("table", ["pay_lines", "driver_daily_pay"])
def test_pg_sinks_sql_selects_the_migrated_columns_in_order_with_their_types(table: str) -> None:
    selected = _select_lists()[table]
    declared = [
        (column, dtype.removesuffix(" NOT NULL"))
        for column, dtype in sink_columns(read_migrations()[table])
    ]
    assert [(RENAMED.get(field, field), kind) for field, kind in selected] == declared


def test_pay_lines_stores_every_field_of_a_ledger_record_and_nothing_else() -> None:
    zones = load_zones(ROOT / "config" / "zones.yaml")
    interval = PaidInterval("o", "d", "sf", 1_795_000_000_000, 1_795_000_600_000, "a", "b", "X")
    record = lines_for(interval, zones, LineKind.LINE)[0].to_record()
    fields = [field for field, _ in _select_lists()["pay_lines"]]
    assert sorted(fields) == sorted(record)
