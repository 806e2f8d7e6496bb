"""A stalled PostgreSQL: its server process stopped (SIGSTOP), so it is up but never answers.

The server's ``statement_timeout`` cannot end such a query (the process that would time it out
is not running), nor can a refused connection tell the client. Only the API's own deadline can:
the request must be a 503 within a bound, and the API must serve again once the server runs.

Only the API's own backend process is stopped (its pid read from the connection itself), not
the whole cluster: the cluster may be serving another process on this machine meanwhile.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from driverpay.api import PoolSettings, RateLimit, create_app
from tests.api.conftest import READER_DSN, TOKEN, Seed

pytestmark = pytest.mark.stack

# One connection, so the stopped backend is the one every request gets; deadlines short.
SETTINGS = PoolSettings(
    min_size=1,
    max_size=1,
    timeout=2.0,
    statement_timeout_ms=300,
    stall_margin=0.5,
    health_timeout=1.0,
)
# The query deadline is 0.8 s (/healthz's 1 s): a 503 may take that plus a loaded machine's delay.
ANSWER_BOUND_S = 6.0
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def one_connection_api(seed: Seed) -> Iterator[tuple[TestClient, FastAPI]]:
    """The API in-process over a pool of one connection to the real PostgreSQL."""
    app = create_app(READER_DSN, TOKEN, pool=SETTINGS, rate=RateLimit(rate=1000, burst=1000))
    with TestClient(app) as client:
        yield client, app


def backend_pid(client: TestClient, app: FastAPI) -> int:
    """The pid of the server process behind the pool's connection."""

    async def read_pid() -> int:
        async with app.state.pool.connection() as conn:
            pid: int = conn.info.backend_pid
            return pid

    return client.portal.call(read_pid)  # type: ignore[union-attr]


@contextmanager
def stopped(pid: int) -> Iterator[None]:
    """Server process ``pid`` stopped for the block: it keeps its socket, it answers nothing."""
    command = Path(f"/proc/{pid}/cmdline").read_bytes()
    assert command.startswith(b"postgres: driverpay_reader"), command  # only the API's session
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def answer_within(seconds: float, request: Callable[[], httpx.Response]) -> httpx.Response:
    """The answer to ``request``, failing the test if none comes within ``seconds``.

    The request runs on a thread that is not waited for: a hung one finishes once the server
    process continues (``stopped`` ends), so the test reports the hang instead of sharing it.
    """
    runner = ThreadPoolExecutor(max_workers=1)
    try:
        return runner.submit(request).result(timeout=seconds)
    except FutureTimeout:
        pytest.fail(f"no answer within {seconds} s from a stalled database")
    finally:
        runner.shutdown(wait=False)


def stalled_then_served(
    api: tuple[TestClient, FastAPI], url: str
) -> tuple[httpx.Response, httpx.Response]:
    """The answer to ``url`` while the API's backend is stopped, then once it runs again."""
    client, app = api
    with stopped(backend_pid(client, app)):
        stalled = answer_within(ANSWER_BOUND_S, lambda: client.get(url, headers=AUTH))
    return stalled, answer_within(ANSWER_BOUND_S, lambda: client.get(url, headers=AUTH))


def test_a_read_from_a_stalled_database_is_a_503_in_bounded_time_then_served_again(
    one_connection_api: tuple[TestClient, FastAPI], seed: Seed
) -> None:
    url = f"/v1/drivers/{seed.usd}/pay?date=2026-11-24"
    stalled, served = stalled_then_served(one_connection_api, url)
    assert stalled.status_code == 503
    assert stalled.json() == {
        "error": "unavailable",
        "message": "database unavailable, retry later",
    }
    assert (served.status_code, served.json()["total"]) == (200, "15.00")


def test_a_page_of_lines_from_a_stalled_database_is_a_503_in_bounded_time(
    one_connection_api: tuple[TestClient, FastAPI], seed: Seed
) -> None:
    url = f"/v1/drivers/{seed.usd}/pay/lines?date=2026-11-24"
    stalled, served = stalled_then_served(one_connection_api, url)
    assert stalled.status_code == 503
    assert stalled.json()["error"] == "unavailable"
    assert (served.status_code, len(served.json()["lines"])) == (200, 4)


def test_healthz_of_a_stalled_database_is_a_503_in_bounded_time_then_ok_again(
    one_connection_api: tuple[TestClient, FastAPI],
) -> None:
    client, app = one_connection_api
    with stopped(backend_pid(client, app)):
        stalled = answer_within(ANSWER_BOUND_S, lambda: client.get("/healthz"))
    assert stalled.status_code == 503
    assert stalled.json()["status"] == "unavailable"
    healthy = answer_within(ANSWER_BOUND_S, lambda: client.get("/healthz"))
    assert (healthy.status_code, healthy.json()) == (200, {"status": "ok"})
