"""Real PostgreSQL for the read-API tests: started if needed, seeded with this run's rows only.

Rows are written as the owner role (``driverpay_owner``; the job's writer may not delete) under
driver ids with a per-run suffix, and deleted afterwards; the API under test reads as
``driverpay_reader``. Passwords come from the pgpass file (tests/conftest.py sets PGPASSFILE).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from driverpay.api import PoolSettings, RateLimit, create_app
from jobs.endpoints import DEFAULT_READ_DSN

ROOT = Path(__file__).resolve().parents[2]
# PG_PORT (as scripts/stack/postgres.sh reads it) runs these on a cluster beside another one
PG_PORT = os.environ.get("PG_PORT", "5432")
OWNER_DSN = f"postgresql://driverpay_owner@127.0.0.1:{PG_PORT}/driverpay"
WRITER_DSN = os.environ.get(
    "DRIVERPAY_PG_DSN", f"postgresql://driverpay@127.0.0.1:{PG_PORT}/driverpay"
)
READER_DSN = os.environ.get(
    "DRIVERPAY_PG_READ_DSN", DEFAULT_READ_DSN.replace(":5432/", f":{PG_PORT}/")
)
TOKEN = f"test-token-{uuid.uuid4().hex}"
DAY = date(2026, 11, 24)


def at(text: str) -> datetime:
    """An aware UTC instant from ``HH:MM`` on DAY."""
    hour, minute = map(int, text.split(":"))
    return datetime(DAY.year, DAY.month, DAY.day, hour, minute, tzinfo=UTC)


@dataclass(frozen=True)
class Seed:
    """Driver ids (and line ids) written for this test run."""

    run: str
    usd: str
    jpy: str
    other: str
    line_ids: dict[str, str]


def _line(seed_run: str, key: str, driver_id: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "line_id": f"{key}-{seed_run}",
        "kind": "LINE",
        "order_id": None,
        "driver_id": driver_id,
        "zone": "downtown",
        "pay_date": DAY,
        "start_ts": None,
        "end_ts": None,
        "base_ms": None,
        "weighted_ms": None,
        "rate_per_minute": None,
        "amount_cents": 0,
        "amount": None,
        "currency": "USD",
        "zones_version": "zv-1",
        "rule_version": "r1",
        "reason": None,
    }
    row.update(values)
    return row


@pytest.fixture(scope="session")
def seed(postgres: None) -> Iterator[Seed]:
    """Driver-days and pay lines of this run, inserted as the owner and removed afterwards."""
    run = uuid.uuid4().hex[:12]
    usd, jpy, other = f"api-usd-{run}", f"api-jpy:{run}", f"api.other_{run}"
    # Inserted out of order on purpose: the API must order by (start, line_id).
    lines = [
        _line(
            run,
            "b-line",
            usd,
            order_id="o-2",
            start_ts=at("10:00"),
            end_ts=at("10:35"),
            base_ms=2_100_000,
            weighted_ms=Decimal("2100000"),
            rate_per_minute=Decimal("0.30"),
            amount_cents=1050,
            amount=Decimal("10.5"),
        ),
        _line(
            run,
            "reversal",
            usd,
            kind="REVERSAL",
            order_id="o-0",
            start_ts=at("08:00"),
            end_ts=at("08:15"),
            base_ms=-900_000,
            weighted_ms=Decimal("-1350000.5"),
            rate_per_minute=Decimal("0.20"),
            amount_cents=-450,
            amount=Decimal("-4.50"),
            reason="order cancelled",
        ),
        _line(
            run,
            "a-line",
            usd,
            order_id="o-1",
            start_ts=at("10:00"),
            end_ts=at("10:30"),
            base_ms=1_800_000,
            weighted_ms=Decimal("1800000"),
            rate_per_minute=Decimal("0.30"),
            amount_cents=900,
            amount=Decimal("9.00"),
        ),
        _line(
            run,
            "adjustment",
            usd,
            kind="ADJUSTMENT",
            zone=None,
            amount_cents=0,
            reason="zones file corrected",
        ),
        # Same driver, next day, and another driver, same day: neither belongs to the answer.
        _line(
            run,
            "next-day",
            usd,
            pay_date=date(2026, 11, 25),
            start_ts=at("09:00"),
            amount_cents=100,
        ),
        _line(run, "other", other, start_ts=at("09:00"), amount_cents=100),
        _line(
            run,
            "jpy",
            jpy,
            currency="JPY",
            start_ts=at("11:00"),
            end_ts=at("11:10"),
            base_ms=600_000,
            weighted_ms=Decimal("600000"),
            rate_per_minute=Decimal("29.7"),
            amount_cents=297,
            amount=Decimal("297"),
        ),
    ]
    days = [
        (usd, DAY, 1500, "USD", 4, 7, True, False, datetime(2026, 11, 25, 6, 0, 0, 123456, UTC)),
        (jpy, DAY, 297, "JPY", 1, 1, False, False, None),
        (other, DAY, 100, "USD", 1, 1, False, False, at("09:00")),
    ]
    drivers = [usd, jpy, other]
    columns = list(lines[0])
    insert_line = sql.SQL("INSERT INTO pay_lines ({}) VALUES ({})").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(map(sql.Placeholder, columns)),
    )
    with psycopg.connect(OWNER_DSN) as conn:
        conn.cursor().executemany(insert_line, lines)
        conn.cursor().executemany(
            "INSERT INTO driver_daily_pay (driver_id, pay_date, total_cents, currency, line_count,"
            " version, final, post_final, as_of) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            days,
        )
    line_ids = {key: f"{key}-{run}" for key in ("a-line", "b-line", "reversal", "adjustment")}
    try:
        yield Seed(run, usd, jpy, other, line_ids)
    finally:
        with psycopg.connect(OWNER_DSN) as conn:
            conn.execute("DELETE FROM pay_lines WHERE driver_id = ANY(%s)", (drivers,))
            conn.execute("DELETE FROM driver_daily_pay WHERE driver_id = ANY(%s)", (drivers,))


@pytest.fixture(scope="module")
def client(seed: Seed) -> Iterator[TestClient]:
    """The app in-process (lifespan run), reading as driverpay_reader.

    Its rate limit is far above what the module sends; test_api_security checks the default one.
    """
    app = create_app(
        READER_DSN,
        TOKEN,
        pool=PoolSettings(min_size=1, max_size=2),
        rate=RateLimit(rate=1000, burst=1000),
    )
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}
