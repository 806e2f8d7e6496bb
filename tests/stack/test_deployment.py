"""The job on the real stack: Kafka in, exactly-once Kafka out, PostgreSQL and the read API."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal

import httpx
import psycopg
import pytest

from tests.stack import stack
from tests.stack.conftest import Deployment
from udfs.money import from_minor

pytestmark = pytest.mark.stack
TIMEOUT_S = 300
TOKEN = secrets.token_urlsafe(32)  # the API refuses tokens shorter than 32 characters


def pg_totals() -> dict[tuple[str, str], tuple[Decimal, int]]:
    with psycopg.connect(stack.PG_DSN) as conn:
        rows = conn.execute(
            "SELECT driver_id, pay_date::text, total_cents, currency, line_count "
            "FROM driver_daily_pay"
        ).fetchall()
    return {(d, day): (from_minor(cents, cur), n) for d, day, cents, cur, n in rows}


def truth_totals(deployment: Deployment) -> dict[tuple[str, str], tuple[Decimal, int]]:
    return {
        (r["driver_id"], r["pay_date"]): (Decimal(r["total"]), r["line_count"])
        for r in deployment.truth["daily"]
    }


@pytest.fixture(scope="module")
def settled(deployment: Deployment) -> Deployment:
    """Wait until PostgreSQL holds the truth (the job is a stream: it never 'finishes')."""
    expected = truth_totals(deployment)
    stack.wait_for(
        lambda: pg_totals() == expected, TIMEOUT_S, "PostgreSQL totals to equal truth", every=3
    )
    return deployment


def test_postgres_daily_totals_equal_the_generators_truth_to_the_cent(settled: Deployment) -> None:
    assert pg_totals() == truth_totals(settled)
    state = stack.flink(f"/jobs/{settled.job_id}")["state"]
    assert state == "RUNNING"


def test_committed_ledger_topic_holds_each_line_exactly_once(settled: Deployment) -> None:
    records = stack.committed_records("pay-ledger", settled.truth["counts"]["pay_lines"])
    ids = Counter(r["line_id"] for r in records)
    assert ids.most_common(1)[0][1] == 1
    net = sum(Decimal(r["amount"]) for r in records if r["currency"] == "USD")
    truth_usd = sum(Decimal(r["total"]) for r in settled.truth["daily"] if r["currency"] == "USD")
    assert net == truth_usd
    with psycopg.connect(stack.PG_DSN) as conn:
        stored = {row[0] for row in conn.execute("SELECT line_id FROM pay_lines").fetchall()}
    assert stored == set(ids)


def test_every_malformed_record_is_in_the_dead_letter_topic(settled: Deployment) -> None:
    expected = settled.truth["counts"]["malformed"]
    records = stack.committed_records("order-events-dlq", expected)
    assert len(records) == expected
    assert all(r["reason"] and "payload" in r for r in records)
    positions = {r["position"] for r in records}
    assert len(positions) == expected
    assert all(p.startswith("order-events/") for p in positions)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def api(settled: Deployment) -> Iterator[str]:
    port, token = _free_port(), TOKEN
    env = {**os.environ, "DRIVERPAY_API_TOKEN": token}
    proc = subprocess.Popen(
        [str(stack.ROOT / ".venv/bin/driverpay"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        stack.wait_for(lambda: _healthy(base), 30, "the read API")
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_read_api_serves_the_same_totals_as_truth(settled: Deployment, api: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=api, headers=headers, timeout=5) as client:
        for row in settled.truth["daily"]:
            body = client.get(
                f"/v1/drivers/{row['driver_id']}/pay", params={"date": row["pay_date"]}
            ).json()
            assert (body["total"], body["currency"], body["line_count"]) == (
                row["total"],
                row["currency"],
                row["line_count"],
            )
