"""The PostgreSQL tables as the migrations define them, and the Flink JDBC columns that follow.

``sql/migrations/*.sql`` is the single source of truth for the read model. The job's JDBC sink
tables (``jobs/kafka_job.py: register_pg_tables``) are derived from it here instead of being
declared a second time by hand: a column added by a migration but missing from the sink (or a
type that differs) was silently never written. Only the DDL the migrations use is understood
(``CREATE TABLE``, ``ALTER TABLE ... ADD COLUMN``); anything else that changes a known table's
columns raises, so a future migration cannot drift past this parser unnoticed.

Pure Python, no pyflink: Flink types are SQL type strings, which ``Schema.Builder.column``
accepts, so the derivation is unit-tested without a JVM.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from driverpay.paths import ROOT

MIGRATIONS = ROOT / "sql" / "migrations"

# An unconstrained ``numeric`` has no fixed scale, Flink's DECIMAL needs one: 38 digits with 6
# places hold every weight (integer ms times a multiplier of at most 6 places) and every rate.
UNCONSTRAINED_NUMERIC = "DECIMAL(38, 6)"
_SIMPLE_TYPES = {
    "text": "STRING",
    "varchar": "STRING",
    "character varying": "STRING",
    "date": "DATE",
    "timestamptz": "TIMESTAMP(3)",
    "timestamp with time zone": "TIMESTAMP(3)",
    "timestamp": "TIMESTAMP(3)",
    "timestamp without time zone": "TIMESTAMP(3)",
    "bigint": "BIGINT",
    "int8": "BIGINT",
    "int": "INT",
    "integer": "INT",
    "int4": "INT",
    "smallint": "SMALLINT",
    "int2": "SMALLINT",
    "boolean": "BOOLEAN",
    "bool": "BOOLEAN",
    "double precision": "DOUBLE",
    "real": "FLOAT",
    "numeric": UNCONSTRAINED_NUMERIC,
    "decimal": UNCONSTRAINED_NUMERIC,
}
# Words that end a column's type and start its constraints.
_CONSTRAINT_WORDS = {
    "not",
    "null",
    "default",
    "primary",
    "references",
    "check",
    "unique",
    "constraint",
    "generated",
    "collate",
}
_TABLE_CONSTRAINT = re.compile(
    r"(primary\s+key|constraint|unique|check|foreign\s+key|exclude)\b", re.IGNORECASE
)
# Defaults the database fills at write time: the job never sends these columns.
_SERVER_CLOCK = re.compile(
    r"^\s*(now\(\)|current_timestamp|localtimestamp|transaction_timestamp\(\)"
    r"|statement_timestamp\(\)|clock_timestamp\(\))\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class PgColumn:
    """One column as declared: name, PostgreSQL type text, nullability and default."""

    name: str
    pg_type: str
    not_null: bool = False
    default: str | None = None
    generated: bool = False

    @property
    def server_managed(self) -> bool:
        """Filled by PostgreSQL itself (``DEFAULT now()``, generated): never written by the job.

        ``driver_daily_pay.updated_at`` is also set by a trigger; its ``DEFAULT now()`` is what
        marks it here.
        """
        return self.generated or (
            self.default is not None and bool(_SERVER_CLOCK.match(self.default))
        )


@dataclass(frozen=True, slots=True)
class PgTable:
    """A table after every migration: columns in physical order, and its primary key."""

    name: str
    columns: tuple[PgColumn, ...]
    primary_key: tuple[str, ...] = ()


def split_statements(text: str) -> list[str]:
    """The statements of a SQL file, comments dropped.

    ``;`` inside quotes or a dollar-quoted function body does not end a statement, and ``--``
    there is not a comment (001 defines a trigger function).
    """
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            current.append(" ")
            continue
        if ch == "'":
            end = i + 1
            while end < n:
                if text[end] == "'" and text.startswith("''", end):
                    end += 2
                    continue
                if text[end] == "'":
                    break
                end += 1
            current.append(text[i : end + 1])
            i = end + 1
            continue
        tag = re.match(r"\$[A-Za-z_]*\$", text[i:])
        if tag:
            end = text.find(tag.group(), i + len(tag.group()))
            end = n if end < 0 else end + len(tag.group())
            current.append(text[i:end])
            i = end
            continue
        if ch == ";":
            statements.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    statements.append("".join(current).strip())
    return [s for s in statements if s]


def parse_migrations(texts: Iterable[str]) -> dict[str, PgTable]:
    """Apply the DDL of ``texts`` (in order) to an empty schema; the resulting tables."""
    tables: dict[str, PgTable] = {}
    for text in texts:
        for statement in split_statements(text):
            _apply(tables, statement)
    return tables


def read_migrations(folder: Path = MIGRATIONS) -> dict[str, PgTable]:
    """The tables after every ``*.sql`` of ``folder``, in the order postgres.sh applies them.

    Parsed once per process and folder (the codec, the JDBC sinks and the SQL catalog all ask
    while a job is built); each caller gets its own dict of the frozen tables.
    """
    return dict(_parsed(folder))


@cache
def _parsed(folder: Path) -> dict[str, PgTable]:
    paths = sorted(folder.glob("*.sql"), key=lambda p: p.name.encode())
    return parse_migrations(p.read_text(encoding="utf-8") for p in paths)


def flink_type(pg_type: str) -> str:
    """The Flink SQL type the JDBC connector writes into a PostgreSQL column of ``pg_type``."""
    text = " ".join(pg_type.lower().split())
    if text in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[text]
    sized = re.fullmatch(r"(numeric|decimal)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)", text)
    if sized:
        return f"DECIMAL({sized.group(2)}, {sized.group(3) or 0})"
    if re.fullmatch(r"(varchar|character varying)\s*\(\s*\d+\s*\)", text):
        return "STRING"
    if re.fullmatch(r"timestamp(tz)?\s*\(\s*\d\s*\)( with(out)? time zone)?", text):
        return "TIMESTAMP(3)"
    raise ValueError(f"no Flink type for PostgreSQL type {pg_type!r}: add it to jobs/pg_schema.py")


def sink_columns(table: PgTable) -> list[tuple[str, str]]:
    """``(column, Flink type)`` the job writes, in table order; primary key columns NOT NULL.

    Server-managed columns are left out so PostgreSQL keeps filling them.
    """
    return [
        (c.name, flink_type(c.pg_type) + (" NOT NULL" if c.name in table.primary_key else ""))
        for c in table.columns
        if not c.server_managed
    ]


# Contract record fields (docs/contracts.md §5, §7) stored under another column name.
RECORD_FIELD = {"start_ts": "start", "end_ts": "end", "amount_cents": "amount_minor"}
# How each Flink sink type travels in the typed row the daily stage emits: the contract's own
# text for dates, instants and decimals (SQL casts it in the JVM, no JSON is parsed again),
# native values for the rest.
CARRIER = {"DATE": "STRING", "TIMESTAMP(3)": "STRING", "BIGINT": "BIGINT", "INT": "INT"}


@dataclass(frozen=True, slots=True)
class SinkColumn:
    """A written column: its name, the contract field it comes from, and both types."""

    name: str
    field: str
    flink_type: str  # the JDBC sink table's type (NOT NULL stripped)
    carrier: str  # the typed row's field type: STRING, BIGINT, INT or BOOLEAN

    def sql(self, row: str) -> str:
        """The expression that turns ``row.<name>`` into the sink's type, in the JVM."""
        value = f"{row}.`{self.name}`"
        if self.flink_type == "TIMESTAMP(3)":  # RFC 3339 UTC with a Z (udfs.timefmt)
            return f"TO_TIMESTAMP(REPLACE(REPLACE({value}, 'T', ' '), 'Z', ''))"
        if self.flink_type == self.carrier:
            return value
        return f"CAST({value} AS {self.flink_type})"


def typed_columns(table: PgTable) -> list[SinkColumn]:
    """The columns the job writes into ``table`` and how each travels (migration order)."""
    columns = []
    for name, dtype in sink_columns(table):
        flink = dtype.removesuffix(" NOT NULL")
        carrier = "BOOLEAN" if flink == "BOOLEAN" else CARRIER.get(flink, "STRING")
        columns.append(SinkColumn(name, RECORD_FIELD.get(name, name), flink, carrier))
    return columns


def row_values(record: Mapping[str, Any], columns: Iterable[SinkColumn]) -> list[Any]:
    """A contract record's values in column order, as the carriers hold them.

    A missing field raises ``KeyError``: a column the record does not fill is a contract
    drift, caught by the daily stage's guard and by tests/unit/test_pg_schema.py.
    """
    values = []
    for column in columns:
        value = record[column.field]
        values.append(str(value) if column.carrier == "STRING" and value is not None else value)
    return values


def insert_sql(sink_table: str, columns: Iterable[SinkColumn], view: str, row: str) -> str:
    """``INSERT INTO sink_table SELECT <each column, converted> FROM view`` (``row``: its field)."""
    select = ",\n    ".join(column.sql(row) for column in columns)
    return f"INSERT INTO {sink_table}\nSELECT\n    {select}\nFROM {view}"


def _apply(tables: dict[str, PgTable], statement: str) -> None:
    create = re.match(
        r"create\s+table\s+(?:if\s+not\s+exists\s+)?([\w.\"]+)\s*\(", statement, re.IGNORECASE
    )
    if create:
        name = _ident(create.group(1))
        body = statement[create.end() : _closing(statement, create.end() - 1)]
        columns: list[PgColumn] = []
        key: tuple[str, ...] = ()
        for item in _split_top(body):
            if _TABLE_CONSTRAINT.match(item):
                pk = re.search(r"primary\s+key\s*\(([^)]*)\)", item, re.IGNORECASE)
                if pk:
                    key = tuple(_ident(k) for k in pk.group(1).split(","))
                continue
            column, is_key = _column(item)
            columns.append(column)
            if is_key:
                key = (column.name,)
        tables[name] = PgTable(name, tuple(columns), key)
        return
    alter = re.match(
        r"alter\s+table\s+(?:if\s+exists\s+)?(?:only\s+)?([\w.\"]+)\s+(.*)$",
        statement,
        re.IGNORECASE | re.DOTALL,
    )
    if alter and _ident(alter.group(1)) in tables:
        table = tables[_ident(alter.group(1))]
        columns = list(table.columns)
        for action in _split_top(alter.group(2)):
            add = re.match(
                r"add\s+(?:column\s+)?(?:if\s+not\s+exists\s+)?(.*)$",
                action,
                re.IGNORECASE | re.DOTALL,
            )
            if not add or _TABLE_CONSTRAINT.match(add.group(1)):
                raise ValueError(
                    f"jobs/pg_schema.py does not understand this change of {table.name}: "
                    f"{action!r} (teach it, so the Flink sink follows the migration)"
                )
            column, is_key = _column(add.group(1))
            if any(c.name == column.name for c in columns):
                if re.search(r"if\s+not\s+exists", action, re.IGNORECASE):
                    continue
                raise ValueError(f"{table.name}.{column.name} is added twice")
            columns.append(column)
            if is_key:
                table = replace(table, primary_key=(column.name,))
        tables[table.name] = replace(table, columns=tuple(columns))
        return
    drop = re.match(
        r"drop\s+table\s+(?:if\s+exists\s+)?([\w.\", ]+?)\s*(cascade)?$", statement, re.I
    )
    if drop:
        for name in drop.group(1).split(","):
            tables.pop(_ident(name), None)


def _column(definition: str) -> tuple[PgColumn, bool]:
    """A column definition (``name type [constraints]``) and whether it is the primary key."""
    words = definition.split()
    name, rest = _ident(words[0]), words[1:]
    type_words: list[str] = []
    while rest and rest[0].lower() not in _CONSTRAINT_WORDS:
        type_words.append(rest.pop(0))
    constraints = " ".join(rest)
    lowered = constraints.lower()
    default = re.search(
        r"\bdefault\s+(.+?)(?=\s+(?:not\s+null|null|primary|references|check|unique|constraint"
        r"|collate)\b|$)",
        constraints,
        re.IGNORECASE,
    )
    column = PgColumn(
        name=name,
        pg_type=" ".join(type_words).lower(),
        not_null=bool(re.search(r"\bnot\s+null\b|\bprimary\s+key\b", lowered)),
        default=default.group(1).strip() if default else None,
        generated="generated" in lowered.split(),
    )
    if not column.pg_type:
        raise ValueError(f"column without a type: {definition!r}")
    return column, bool(re.search(r"\bprimary\s+key\b", lowered))


def _split_top(body: str) -> list[str]:
    """``body`` split at commas outside parentheses (``numeric(18, 4)`` stays whole)."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(body[start:i])
            start = i + 1
    items.append(body[start:])
    return [" ".join(item.split()) for item in items if item.strip()]


def _closing(text: str, open_at: int) -> int:
    """Index of the parenthesis closing the one at ``open_at``."""
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced parentheses in {text[:60]!r}...")


def _ident(text: str) -> str:
    """An identifier as PostgreSQL stores it: quoted kept, unquoted folded to lower case."""
    text = text.strip().split(".")[-1]
    return text[1:-1] if text.startswith('"') else text.lower()
