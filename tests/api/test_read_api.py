"""The read API against the real PostgreSQL: in-process (TestClient) and as ``driverpay serve``."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from driverpay.api import PoolSettings, create_app
from tests.api.conftest import OWNER_DSN, READER_DSN, ROOT, TOKEN, Seed
from tests.serving import free_port, serve_process

pytestmark = pytest.mark.stack

USD_DAY = "2026-11-24"


def pay_url(driver_id: str, day: str = USD_DAY, lines: bool = False) -> str:
    return f"/v1/drivers/{driver_id}/pay{'/lines' if lines else ''}?date={day}"


# --- totals ---------------------------------------------------------------------------------


def test_a_usd_day_answers_its_total_with_cents_and_every_field(
    client: TestClient, seed: Seed, auth: dict[str, str]
) -> None:
    response = client.get(pay_url(seed.usd), headers=auth)
    assert response.status_code == 200
    assert response.json() == {
        "driver_id": seed.usd,
        "date": USD_DAY,
        "total": "15.00",
        "total_cents": 1500,
        "currency": "USD",
        "line_count": 4,
        "as_of": "2026-11-25T06:00:00.123Z",
        "final": True,
        "post_final": False,
        "version": 7,
    }
    assert response.headers["cache-control"] == "private, no-store"


def test_a_jpy_day_answers_a_total_without_decimal_places(
    client: TestClient, seed: Seed, auth: dict[str, str]
) -> None:
    body = client.get(pay_url(seed.jpy), headers=auth).json()
    assert body["total"] == "297"
    assert body["total_cents"] == 297
    assert body["currency"] == "JPY"
    assert body["as_of"] is None
    assert body["final"] is False


def test_a_day_without_pay_is_a_404_with_a_json_message(
    client: TestClient, seed: Seed, auth: dict[str, str]
) -> None:
    for url in (pay_url(seed.usd, "2026-11-23"), pay_url(f"nobody-{seed.run}")):
        response = client.get(url, headers=auth)
        assert response.status_code == 404
        body = response.json()
        assert body["error"] == "not_found"
        assert "no pay recorded" in body["message"]


def test_an_unknown_path_or_method_answers_the_apis_error_body(
    client: TestClient, seed: Seed, auth: dict[str, str]
) -> None:
    """A client parses one error shape: ``error`` and ``message``, never FastAPI's ``detail``."""
    unknown = client.get("/v1/drivers", headers=auth)
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "not_found"
    assert "/v1/drivers/{driver_id}/pay" in unknown.json()["message"]
    posted = client.post(pay_url(seed.usd), headers=auth)
    assert posted.status_code == 405
    assert posted.json()["error"] == "method_not_allowed"
    assert set(posted.headers["allow"].split(", ")) == {"GET", "HEAD"}
    assert "detail" not in unknown.json()
    assert "detail" not in posted.json()


def test_head_answers_what_get_would_without_the_body(
    client: TestClient, seed: Seed, auth: dict[str, str]
) -> None:
    """RFC 9110 §9.1: a server that answers GET answers HEAD (``curl -I``, uptime probes)."""
    for url in (pay_url(seed.usd), pay_url(seed.usd, lines=True), "/healthz"):
        got, head = client.get(url, headers=auth), client.head(url, headers=auth)
        assert (head.status_code, head.content) == (got.status_code, b""), url
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers["content-length"] == got.headers["content-length"]
    assert client.head(pay_url("nobody"), headers=auth).status_code == 404
    assert client.head(pay_url(seed.usd)).status_code == 401


def test_a_total_is_never_older_than_the_committed_row(
    client: TestClient, seed: Seed, auth: dict[str, str]
) -> None:
    """Contracts §8: no cache, so the staleness bound is 0.

    Each answer reads the row as committed when its query runs: the very next request after an
    update serves it, never the older total.
    """
    driver = f"fresh-{seed.run}"
    with psycopg.connect(OWNER_DSN, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO driver_daily_pay (driver_id, pay_date, total_cents, currency, line_count,"
            " version, final, post_final) VALUES (%s, %s, 100, 'USD', 1, 1, false, false)",
            (driver, USD_DAY),
        )
        try:
            for version in range(2, 12):
                served = client.get(pay_url(driver), headers=auth).json()
                assert (served["version"], served["total_cents"]) == (
                    version - 1,
                    version * 100 - 100,
                )
                conn.execute(
                    "UPDATE driver_daily_pay SET version = %s, total_cents = %s, line_count = %s"
                    " WHERE driver_id = %s",
                    (version, version * 100, version, driver),
                )
                served = client.get(pay_url(driver), headers=auth).json()
                assert (served["version"], served["total_cents"]) == (version, version * 100)
                assert served["total"] == f"{version}.00"
        finally:
            conn.execute("DELETE FROM driver_daily_pay WHERE driver_id = %s", (driver,))


# --- lines ----------------------------------------------------------------------------------


def test_lines_are_exact_and_ordered_by_start_then_line_id(
    client: TestClient, seed: Seed, auth: dict[str, str]
) -> None:
    response = client.get(pay_url(seed.usd, lines=True), headers=auth)
    assert response.status_code == 200
    common = {"currency": "USD", "zones_version": "zv-1", "rule_version": "r1"}
    assert response.json() == {
        "driver_id": seed.usd,
        "date": USD_DAY,
        "lines": [
            {
                "line_id": seed.line_ids["reversal"],
                "kind": "REVERSAL",
                "order_id": "o-0",
                "zone": "downtown",
                "start": "2026-11-24T08:00:00.000Z",
                "end": "2026-11-24T08:15:00.000Z",
                "base_ms": -900_000,
                "weighted_ms": "-1350000.5",
                "rate_per_minute": "0.20",
                "amount": "-4.50",
                "reason": "order cancelled",
                **common,
            },
            {
                "line_id": seed.line_ids["a-line"],
                "kind": "LINE",
                "order_id": "o-1",
                "zone": "downtown",
                "start": "2026-11-24T10:00:00.000Z",
                "end": "2026-11-24T10:30:00.000Z",
                "base_ms": 1_800_000,
                "weighted_ms": 1_800_000,
                "rate_per_minute": "0.30",
                "amount": "9.00",
                "reason": None,
                **common,
            },
            {
                "line_id": seed.line_ids["b-line"],
                "kind": "LINE",
                "order_id": "o-2",
                "zone": "downtown",
                "start": "2026-11-24T10:00:00.000Z",
                "end": "2026-11-24T10:35:00.000Z",
                "base_ms": 2_100_000,
                "weighted_ms": 2_100_000,
                "rate_per_minute": "0.30",
                "amount": "10.50",
                "reason": None,
                **common,
            },
            {
                "line_id": seed.line_ids["adjustment"],
                "kind": "ADJUSTMENT",
                "order_id": None,
                "zone": None,
                "start": None,
                "end": None,
                "base_ms": None,
                "weighted_ms": None,
                "rate_per_minute": None,
                "amount": "0.00",
                "reason": "zones file corrected",
                **common,
            },
        ],
        "next_cursor": None,
    }


def test_jpy_line_amounts_have_no_decimal_places(
    client: TestClient, seed: Seed, auth: dict[str, str]
) -> None:
    lines = client.get(pay_url(seed.jpy, lines=True), headers=auth).json()["lines"]
    assert [(line["amount"], line["rate_per_minute"]) for line in lines] == [("297", "29.7")]


def test_a_day_without_lines_is_an_empty_list_not_an_error(
    client: TestClient, seed: Seed, auth: dict[str, str]
) -> None:
    response = client.get(pay_url(seed.usd, "2026-11-23", lines=True), headers=auth)
    assert response.status_code == 200
    assert response.json() == {
        "driver_id": seed.usd,
        "date": "2026-11-23",
        "lines": [],
        "next_cursor": None,
    }


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("lines", [False, True], ids=["pay", "lines"])
@pytest.mark.parametrize("day", ["2026-02-30", "yesterday", "2026-1-5", "20261124", "0000-01-01"])
def test_a_date_that_is_not_a_calendar_day_is_a_400_naming_date(
    client: TestClient, seed: Seed, auth: dict[str, str], day: str, lines: bool
) -> None:
    response = client.get(pay_url(seed.usd, day, lines=lines), headers=auth)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad_request"
    assert body["parameter"] == "date"
    assert "date" in body["message"]


def test_a_missing_date_is_a_400_not_a_422(
    client: TestClient, seed: Seed, auth: dict[str, str]
) -> None:
    response = client.get(f"/v1/drivers/{seed.usd}/pay", headers=auth)
    assert response.status_code == 400
    assert response.json()["parameter"] == "date"
    assert "required" in response.json()["message"]


# What the event contract refuses in an id (docs/contracts.md §1): never paid, so never asked.
@pytest.mark.parametrize("lines", [False, True], ids=["pay", "lines"])
@pytest.mark.parametrize(
    "driver_id",
    ["x" * 129, "new%0Aline", "nul%00", "%20leading", "bidi%E2%80%AEx", "", "%20", "%20%09%20"],
    ids=["too-long", "newline", "nul", "leading-space", "bidi", "empty", "space", "blank"],
)
def test_a_driver_id_no_event_could_carry_is_a_400_naming_driver_id(
    client: TestClient, auth: dict[str, str], driver_id: str, lines: bool
) -> None:
    response = client.get(pay_url(driver_id, lines=lines), headers=auth)
    assert response.status_code == 400
    body = response.json()
    assert body["parameter"] == "driver_id"
    assert "driver_id must be an id as events carry it" in body["message"]


def test_every_driver_id_the_job_pays_can_ask_for_its_pay(
    client: TestClient, seed: Seed, auth: dict[str, str]
) -> None:
    """Spaces inside, '|', ';', '/' and non-ASCII are valid event ids: such a driver is paid."""
    odd = f"dríver | 7;fleet/pay/{seed.run}"  # '/' even followed by what looks like the route
    with psycopg.connect(OWNER_DSN) as conn:
        conn.execute(
            "INSERT INTO driver_daily_pay (driver_id, pay_date, total_cents, currency, line_count,"
            " version, final, post_final, as_of) VALUES (%s, %s, 250, 'USD', 1, 1, false, false,"
            " NULL)",
            (odd, USD_DAY),
        )
    try:
        day = client.get(pay_url(quote(odd, safe="")), headers=auth)
        lines = client.get(pay_url(quote(odd, safe=""), lines=True), headers=auth)
    finally:
        with psycopg.connect(OWNER_DSN) as conn:
            conn.execute("DELETE FROM driver_daily_pay WHERE driver_id = %s", (odd,))

    assert day.status_code == 200
    assert (day.json()["driver_id"], day.json()["total"]) == (odd, "2.50")
    assert (lines.status_code, lines.json()["lines"]) == (200, [])


# --- auth -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": "Bearer tökén".encode()},
    ],
    ids=["missing", "wrong", "not-bearer", "longer", "non-ascii"],
)
def test_requests_without_the_right_bearer_token_are_401_with_a_challenge(
    client: TestClient, seed: Seed, headers: dict[str, str | bytes]
) -> None:
    for url in (pay_url(seed.usd), pay_url(seed.usd, lines=True)):
        response = client.get(url, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"] == "unauthorized"


def test_auth_is_checked_before_parameters_so_strangers_learn_nothing(client: TestClient) -> None:
    assert client.get(pay_url("bad id", "yesterday")).status_code == 401


# --- database roles -------------------------------------------------------------------------


def test_the_reader_role_cannot_write_the_pay_tables(seed: Seed) -> None:
    with psycopg.connect(READER_DSN, autocommit=True) as conn:
        # the role's sessions are read-only by default; turned off, privileges still refuse
        conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO driver_daily_pay (driver_id, pay_date, total_cents, currency,"
                " line_count, version) VALUES (%s, %s, 1, 'USD', 1, 1)",
                (f"intruder-{seed.run}", USD_DAY),
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM pay_lines WHERE driver_id = %s", (seed.usd,))


def test_api_sessions_are_read_only_even_for_a_statement_the_role_could_run(
    client: TestClient,
) -> None:
    pool = client.app.state.pool  # type: ignore[attr-defined]

    async def session() -> tuple[Any, Any, type[BaseException] | None]:
        async with pool.connection() as conn:
            read_only = await (await conn.execute("SHOW default_transaction_read_only")).fetchone()
            user = await (await conn.execute("SELECT current_user")).fetchone()
            try:
                await conn.execute("CREATE TEMPORARY TABLE scratch (x int)")
            except psycopg.Error as exc:
                return read_only, user, type(exc)
            return read_only, user, None

    # the pool belongs to the app's event loop: run there, through the test client's portal
    read_only, user, refused = client.portal.call(session)  # type: ignore[union-attr]
    assert read_only == ("on",)
    assert user == ("driverpay_reader",)
    assert refused is psycopg.errors.ReadOnlySqlTransaction


# --- ops ------------------------------------------------------------------------------------


def test_healthz_answers_ok_without_a_token(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_an_unreachable_database_is_a_503_not_a_500() -> None:
    dead = f"postgresql://driverpay_reader@127.0.0.1:{free_port()}/driverpay"
    app = create_app(dead, TOKEN, pool=PoolSettings(timeout=0.5, health_timeout=0.5))
    with TestClient(app) as dead_client:
        assert dead_client.get("/healthz").status_code == 503
        assert dead_client.get("/healthz").json()["status"] == "unavailable"
        response = dead_client.get(pay_url("d-1"), headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 503
        assert response.json()["error"] == "unavailable"


def test_openapi_lists_both_paths_and_the_bearer_scheme(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "driverpay read API"
    assert spec["info"]["version"]
    paths = spec["paths"]
    assert {"/v1/drivers/{driver_id}/pay", "/v1/drivers/{driver_id}/pay/lines", "/healthz"} <= set(
        paths
    )
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The shared API token (DRIVERPAY_API_TOKEN of the server).",
    }
    for path in ("/v1/drivers/{driver_id}/pay", "/v1/drivers/{driver_id}/pay/lines"):
        operation = paths[path]["get"]
        assert operation["security"] == [{"bearerAuth": []}]
        assert operation["description"]
        assert {"200", "400", "401"} <= set(operation["responses"])
        assert "422" not in operation["responses"]  # validation errors are 400 here
    assert "security" not in paths["/healthz"]["get"]
    assert all(set(operations) == {"get"} for operations in paths.values())  # HEAD: GET's twin
    # Swagger UI / ReDoc would load scripts from a CDN: not served
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404


# --- the real server ------------------------------------------------------------------------


@contextmanager
def serving(tmp: Path, **env_overrides: str) -> Iterator[str]:
    """``driverpay serve`` on a free loopback port until the block ends; killed by PID."""
    env = {"DRIVERPAY_API_TOKEN": TOKEN, "DRIVERPAY_PG_READ_DSN": READER_DSN, **env_overrides}
    with serve_process(tmp, env) as (base, _):
        yield base


@pytest.fixture(scope="module")
def server(seed: Seed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``driverpay serve`` for the module's tests."""
    with serving(tmp_path_factory.mktemp("serve")) as base:
        yield base


def test_the_served_api_answers_over_http_like_the_in_process_one(
    server: str, client: TestClient, seed: Seed, auth: dict[str, str]
) -> None:
    with httpx.Client(base_url=server, timeout=5) as http:
        for url in (pay_url(seed.usd), pay_url(seed.jpy), pay_url(seed.usd, lines=True)):
            served = http.get(url, headers=auth)
            assert served.status_code == 200
            assert served.json() == client.get(url, headers=auth).json()
        denied = http.get(pay_url(seed.usd))
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"] == "Bearer"
        assert http.get(pay_url(seed.usd, "2026-02-30"), headers=auth).status_code == 400
        assert http.get(pay_url(seed.usd, "2026-11-23"), headers=auth).status_code == 404
        assert http.get("/healthz").json() == {"status": "ok"}


def serve_until_it_exits(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``driverpay serve`` with ``env``, for a setting it must refuse before listening."""
    return subprocess.run(
        [ROOT / ".venv/bin/driverpay", "serve", "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_serve_refuses_to_start_without_a_token() -> None:
    result = serve_until_it_exits(
        {k: v for k, v in os.environ.items() if k != "DRIVERPAY_API_TOKEN"}
    )
    assert result.returncode == 2
    assert "DRIVERPAY_API_TOKEN is not set" in result.stderr


def test_a_client_cannot_escape_its_rate_limit_by_naming_another_address(
    seed: Seed, tmp_path: Path
) -> None:
    """Nothing proxies the API: an ``X-Forwarded-For`` header is the client's word, not its address.

    A burst of 10 then 1 request/s: forty requests, each claiming another address, are still
    one client's (all come from 127.0.0.1).
    """
    limits = {"DRIVERPAY_API_RATE": "1", "DRIVERPAY_API_BURST": "10"}
    with serving(tmp_path, **limits) as base, httpx.Client(base_url=base, timeout=5) as http:
        statuses = [
            http.get(
                pay_url(seed.usd),
                headers={"Authorization": f"Bearer {TOKEN}", "X-Forwarded-For": f"10.0.0.{i}"},
            ).status_code
            for i in range(40)
        ]
    assert statuses[:10] == [200] * 10
    assert statuses.count(429) >= 25
