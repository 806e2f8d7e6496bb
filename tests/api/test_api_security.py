"""Read-API hardening against real PostgreSQL: page size and cursor, rate limit, headers, token."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from driverpay.api import (
    DEFAULT_PAGE,
    MAX_PAGE,
    ConfigError,
    PoolSettings,
    RateLimit,
    TokenBuckets,
    app_from_env,
    create_app,
)
from tests.api.conftest import DAY, OWNER_DSN, READER_DSN, ROOT, TOKEN, Seed
from tests.api.test_read_api import pay_url, serve_until_it_exits

pytestmark = pytest.mark.stack

MANY = MAX_PAGE + 1  # one more than the largest page


@pytest.fixture(scope="module")
def many(postgres: None) -> Iterator[str]:
    """A driver-day of MANY lines: shared and missing start times, to exercise the keyset."""
    driver = f"api-many-{uuid.uuid4().hex[:12]}"
    base = datetime(DAY.year, DAY.month, DAY.day, 8, tzinfo=UTC)
    rows = []
    for i in range(MANY):
        start = None if i % 10 == 0 else base + timedelta(minutes=i % 7)  # ties and NULLs
        rows.append((f"{driver}-{i:05d}", driver, DAY, start, i, "USD"))
    with psycopg.connect(OWNER_DSN) as conn:
        conn.cursor().executemany(
            "INSERT INTO pay_lines (line_id, kind, driver_id, pay_date, start_ts, amount_cents,"
            " currency) VALUES (%s, 'LINE', %s, %s, %s, %s, %s)",
            rows,
        )
    try:
        yield driver
    finally:
        with psycopg.connect(OWNER_DSN) as conn:
            conn.execute("DELETE FROM pay_lines WHERE driver_id = %s", (driver,))


def expected_order(driver: str) -> list[str]:
    with psycopg.connect(OWNER_DSN) as conn:
        rows = conn.execute(
            "SELECT line_id FROM pay_lines WHERE driver_id = %s AND pay_date = %s"
            ' ORDER BY start_ts ASC NULLS LAST, line_id COLLATE "C" ASC',
            (driver, DAY),
        ).fetchall()
    return [r[0] for r in rows]


def all_pages(client: TestClient, driver: str, auth: dict[str, str], limit: int) -> list[Any]:
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"date": DAY.isoformat(), "limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = client.get(f"/v1/drivers/{driver}/pay/lines", params=params, headers=auth)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["lines"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


# --- page size and cursor -------------------------------------------------------------------


def test_lines_default_to_a_page_of_100_with_a_cursor(
    client: TestClient, many: str, auth: dict[str, str]
) -> None:
    body = client.get(pay_url(many, lines=True), headers=auth).json()
    assert len(body["lines"]) == DEFAULT_PAGE == 100
    assert body["next_cursor"]
    assert [line["line_id"] for line in body["lines"]] == expected_order(many)[:DEFAULT_PAGE]


def test_the_largest_page_is_1000_and_the_next_page_holds_the_rest(
    client: TestClient, many: str, auth: dict[str, str]
) -> None:
    pages = all_pages(client, many, auth, MAX_PAGE)
    assert [len(page) for page in pages] == [MAX_PAGE, 1]


@pytest.mark.parametrize("limit", [7, 333])
def test_following_cursors_returns_every_line_once_in_order(
    client: TestClient, many: str, auth: dict[str, str], limit: int
) -> None:
    pages = all_pages(client, many, auth, limit)
    ids = [line["line_id"] for page in pages for line in page]
    assert ids == expected_order(many)
    assert all(len(page) == limit for page in pages[:-1])


def test_single_row_pages_walk_the_seeded_day_in_order(
    client: TestClient, seed: Seed, auth: dict[str, str]
) -> None:
    pages = all_pages(client, seed.usd, auth, 1)
    ids = [line["line_id"] for page in pages for line in page]
    keys = ("reversal", "a-line", "b-line", "adjustment")  # timed first, untimed last
    assert ids == [seed.line_ids[k] for k in keys]


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "ten"])
def test_a_limit_outside_1_to_1000_is_a_400_naming_limit(
    client: TestClient, seed: Seed, auth: dict[str, str], limit: str
) -> None:
    response = client.get(pay_url(seed.usd, lines=True) + f"&limit={limit}", headers=auth)
    assert response.status_code == 400
    assert response.json()["parameter"] == "limit"


def test_a_forged_or_foreign_cursor_is_a_400_naming_cursor(
    client: TestClient, seed: Seed, many: str, auth: dict[str, str]
) -> None:
    foreign = client.get(pay_url(many, lines=True), headers=auth).json()["next_cursor"]
    # Ours in shape, for this driver-day, but with a NUL in the line id (PostgreSQL's text
    # refuses it: that query would fail, a 500) or a start without an offset.
    position = {"d": seed.usd, "p": DAY.isoformat(), "s": None, "l": "a\u0000b"}
    nul = base64.urlsafe_b64encode(json.dumps(position).encode()).decode()
    position |= {"s": "2026-11-24T10:00:00", "l": "a"}
    naive = base64.urlsafe_b64encode(json.dumps(position).encode()).decode()
    position |= {"s": None, "l": ["a"]}  # str() would once have made it the line id "['a']"
    listed = base64.urlsafe_b64encode(json.dumps(position).encode()).decode()
    position |= {"s": 1795521600000, "l": "a"}
    numeric = base64.urlsafe_b64encode(json.dumps(position).encode()).decode()
    for cursor in ("not-a-cursor", "eyJ4IjoxfQ", foreign, "x" * 2000, nul, naive, listed, numeric):
        response = client.get(
            f"/v1/drivers/{seed.usd}/pay/lines",
            params={"date": DAY.isoformat(), "cursor": cursor},
            headers=auth,
        )
        assert response.status_code == 400, cursor
        assert response.json()["parameter"] == "cursor"


# --- rate limit -----------------------------------------------------------------------------


def limited_app(rate: float, burst: int) -> TestClient:
    app = create_app(READER_DSN, TOKEN, pool=PoolSettings(max_size=1), rate=RateLimit(rate, burst))
    return TestClient(app)


def test_a_client_over_its_burst_gets_429_with_retry_after(
    seed: Seed, auth: dict[str, str]
) -> None:
    with limited_app(rate=0.5, burst=3) as client:
        codes = [client.get(pay_url(seed.usd), headers=auth).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        response = client.get(pay_url(seed.usd), headers=auth)
        assert response.status_code == 429
        assert response.json()["error"] == "rate_limited"
        assert 1 <= int(response.headers["retry-after"]) <= 2
        # unauthenticated guesses spend the same bucket, and health checks are never limited
        assert client.get(pay_url(seed.usd)).status_code == 429
        assert client.get("/healthz").status_code == 200


def test_buckets_are_per_client_address(seed: Seed, auth: dict[str, str]) -> None:
    app = create_app(READER_DSN, TOKEN, rate=RateLimit(rate=0.5, burst=1))

    async def peer_from_test_header(scope: Any, receive: Any, send: Any) -> None:
        """The peer address a test names (one client, so one lifespan and one event loop)."""
        peer = dict(scope.get("headers", ())).get(b"x-test-peer")
        await app({**scope, "client": (peer.decode(), 1000)} if peer else scope, receive, send)

    with TestClient(peer_from_test_header) as client:
        one, two = {**auth, "X-Test-Peer": "192.0.2.1"}, {**auth, "X-Test-Peer": "192.0.2.2"}
        assert client.get(pay_url(seed.usd), headers=one).status_code == 200
        assert client.get(pay_url(seed.usd), headers=one).status_code == 429
        assert client.get(pay_url(seed.usd), headers=two).status_code == 200


def test_a_bucket_refills_at_its_rate_and_forgets_the_least_recent_client() -> None:
    now = [0.0]
    buckets = TokenBuckets(RateLimit(rate=2, burst=2, max_clients=2), clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(2)] == [0, 0]
    assert buckets.take("a") == pytest.approx(0.5)
    now[0] = 0.5
    assert buckets.take("a") == 0  # one token back after 1/rate seconds
    buckets.take("b")
    buckets.take("c")
    assert list(buckets.buckets) == ["b", "c"]


def test_serve_reads_its_rate_limit_from_the_environment() -> None:
    env = {"DRIVERPAY_API_TOKEN": TOKEN, "DRIVERPAY_API_RATE": "1", "DRIVERPAY_API_BURST": "2"}
    with TestClient(app_from_env(env)) as client:
        codes = [client.get("/openapi.json").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


# --- headers --------------------------------------------------------------------------------

SECURITY = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def test_every_answer_carries_the_security_headers_and_no_store(
    client: TestClient, seed: Seed, auth: dict[str, str]
) -> None:
    answers = {
        200: client.get(pay_url(seed.usd, lines=True), headers=auth),
        400: client.get(pay_url(seed.usd, "yesterday"), headers=auth),
        401: client.get(pay_url(seed.usd)),
        404: client.get(pay_url(seed.usd, "2026-11-23"), headers=auth),
        0: client.get("/healthz"),
        1: client.get("/openapi.json"),
    }
    with limited_app(rate=0.5, burst=1) as limited:
        limited.get("/openapi.json")
        answers[429] = limited.get("/openapi.json")
    for status, response in answers.items():
        assert status in (0, 1) or response.status_code == status
        for name, value in SECURITY.items():
            assert response.headers[name] == value, (status, name)
        assert "no-store" in response.headers["cache-control"], status


def test_no_page_loads_assets_from_a_cdn(client: TestClient) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        response = client.get(path)
        assert response.status_code == 404
        assert "cdn" not in response.text.lower()
    assert "cdn" not in client.get("/openapi.json").text.lower()


# --- token length ---------------------------------------------------------------------------


def test_a_token_shorter_than_32_characters_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 32 characters"):
        create_app(READER_DSN, "x" * 31)
    create_app(READER_DSN, "x" * 32)


def test_serve_exits_2_with_one_line_for_a_short_token() -> None:
    result = serve_until_it_exits({**os.environ, "DRIVERPAY_API_TOKEN": "short-token"})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "DRIVERPAY_API_TOKEN must be at least 32 characters, got 11" in result.stderr
    assert "short-token" not in result.stderr


def test_a_token_no_client_could_send_is_refused() -> None:
    """Headers arrive as Latin-1 bytes: a token with "é" would be compared and never match."""
    with pytest.raises(ConfigError, match="printable ASCII"):
        create_app(READER_DSN, "é" * 40)
    with pytest.raises(ConfigError, match="printable ASCII"):
        create_app(READER_DSN, "x" * 39 + "\n")


def test_serve_exits_2_for_a_rate_no_bucket_can_hold_and_prints_no_secret() -> None:
    secret = "SECRET-" + "t" * 40
    result = serve_until_it_exits(
        {**os.environ, "DRIVERPAY_API_TOKEN": secret, "DRIVERPAY_API_RATE": "9" * 400}
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "DRIVERPAY_API_RATE must be between 1 and 1,000,000,000" in result.stderr
    assert secret not in result.stderr + result.stdout


def test_a_crash_trace_shows_no_local_variables(tmp_path) -> None:
    """An unexpected error in any command prints its trace, but not the locals holding secrets."""
    script = tmp_path / "crash.py"
    script.write_text(
        "import os\n"
        "from driverpay.cli import app\n"
        "@app.command('crash-now')\n"
        "def crash_now() -> None:\n"
        "    token = os.environ['CRASH_TOKEN']\n"
        "    raise RuntimeError('boom')\n"
        "app()\n"
    )
    result = subprocess.run(
        [sys.executable, str(script), "crash-now"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200", "CRASH_TOKEN": "SECRET-in-a-local-" + "z" * 20},
    )
    assert result.returncode == 1
    assert "RuntimeError: boom" in result.stderr
    assert "SECRET-in-a-local-" not in result.stderr + result.stdout
