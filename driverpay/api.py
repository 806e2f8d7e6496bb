"""The read API (contracts §8): drivers' daily pay and its audit lines, served from PostgreSQL.

Readers connect as their own role. The streaming job writes ``pay_lines`` and ``driver_daily_pay``
as ``driverpay`` (a writer that owns nothing); this API connects as ``driverpay_reader`` (its
password from the libpq password file ``PGPASSFILE``, default ``.run/secrets/pgpass``), which holds
only ``CONNECT``, ``USAGE`` on the schema and ``SELECT`` on the tables. An internet-facing process
is the most likely one to be compromised or to carry a bug (an injected or mistaken statement), so
its credentials must not be able to change pay: least privilege is enforced by the database, not by
trusting this code. Its sessions also set ``default_transaction_read_only = on`` (a second,
independent guard, e.g. if the DSN is pointed at the owner role by mistake) and a
``statement_timeout``, and it can be given its own connection limits and be revoked or rotated
without touching the writer.

Every read is one indexed lookup with bound parameters: the primary key ``(driver_id, pay_date)``
of ``driver_daily_pay``, or the ``(driver_id, pay_date)`` index of ``pay_lines``. Lines come in
pages (at most ``MAX_PAGE`` rows) with an opaque keyset cursor, so no request reads an unbounded
day; each client (by IP) gets a token bucket of requests (per worker process), so one caller
cannot exhaust the pool or guess tokens quickly; every answer carries security headers, and no
page loads assets from a CDN (Swagger UI and ReDoc are off; ``/openapi.json`` stays).

Cheap under load (docs/design.md, "Read path under load"): async endpoints on one event loop and
an async pool (no threadpool hops), a plain ASGI guard, bodies encoded by orjson. No cache: each
answer is read from PostgreSQL when served, so it is never older than the committed row.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Annotated, Any, TypeVar

import anyio
import orjson
import psycopg
from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRouter
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from driverpay.api_models import DailyPay, ErrorBody, Health, PayLine, PayLines
from driverpay.secrets import ensure_pgpassfile_env
from jobs.endpoints import DEFAULT_READ_DSN
from udfs.events import (
    MAX_ID_CHARS,
    MalformedEventError,
    has_control_characters,
    valid_identifier,
)
from udfs.ledger import json_number
from udfs.money import from_minor
from udfs.timefmt import CALENDAR_DATE, format_ms, from_datetime

log = logging.getLogger("driverpay.api")

READ_DSN_ENV = "DRIVERPAY_PG_READ_DSN"
TOKEN_ENV = "DRIVERPAY_API_TOKEN"
POOL_MIN_ENV = "DRIVERPAY_API_POOL_MIN"
POOL_MAX_ENV = "DRIVERPAY_API_POOL_MAX"
RATE_ENV = "DRIVERPAY_API_RATE"  # requests per second per client, refilled continuously
BURST_ENV = "DRIVERPAY_API_BURST"  # requests a client may make at once
MAX_SETTING = 1_000_000_000  # the largest pool size, rate or burst a setting may ask for
MIN_TOKEN_CHARS = 32  # e.g. secrets.token_urlsafe(32) gives 43: not guessable at any rate limit
DEFAULT_PAGE = 100
MAX_PAGE = 1000

PRIVATE_NO_STORE = {"Cache-Control": "private, no-store"}
# On every answer: JSON only, never framed, sniffed, cached or followed by a Referer.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


class AnyIdConvertor(Convertor[str]):
    """A path segment holding any id the events accept, ``/`` and newlines included.

    The server decodes ``%2F`` before routing, so the default convertor (no ``/``) would make
    such a driver unaddressable, and ``path`` (``.*``) would turn an id with a newline into a
    404 instead of the 400 the id check gives. The empty id matches too (``/drivers//pay``),
    so it is refused by the same check as any other invalid id, not answered "no such route".
    The suffix (``/pay``, ``/pay/lines``) still decides the route.
    """

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        """The id as the server decoded it; ``_check_driver_id`` judges it."""
        return value

    def to_string(self, value: str) -> str:
        """Only for ``url_path_for``; unused by the API."""
        return value


register_url_convertor("any_id", AnyIdConvertor())

_PARAM_HELP = {
    "driver_id": (
        f"driver_id must be an id as events carry it: 1 to {MAX_ID_CHARS} printable characters, "
        "no leading or trailing space (docs/contracts.md §1)"
    ),
    "date": "date must be a calendar date written YYYY-MM-DD, e.g. 2026-11-24",
    "limit": f"limit must be an integer from 1 to {MAX_PAGE}",
    "cursor": "cursor must be a next_cursor returned for the same driver_id and date",
}

DAILY_PAY_SQL = """
SELECT driver_id, pay_date, total_cents, currency, line_count, as_of, final, post_final, version
FROM driver_daily_pay
WHERE driver_id = %(driver_id)s AND pay_date = %(pay_date)s
"""

PAY_LINES_SQL = """
SELECT line_id, kind, order_id, zone, start_ts, end_ts, base_ms, weighted_ms, rate_per_minute,
       amount_cents, currency, zones_version, rule_version, reason
FROM pay_lines
WHERE driver_id = %(driver_id)s AND pay_date = %(pay_date)s{after}
ORDER BY start_ts ASC NULLS LAST, line_id COLLATE "C" ASC
LIMIT %(limit)s
"""
# Keyset continuation after the cursor's (start_ts, line_id), in the same NULLS LAST order.
_AFTER_TIMED = """
  AND (start_ts > %(after_start)s
       OR (start_ts = %(after_start)s AND line_id COLLATE "C" > %(after_line)s)
       OR start_ts IS NULL)"""
_AFTER_UNTIMED = """
  AND start_ts IS NULL AND line_id COLLATE "C" > %(after_line)s"""


class ConfigError(Exception):
    """The server cannot start: a required setting is missing or invalid."""


class ApiError(Exception):
    """An expected failure, answered as ``ErrorBody`` JSON with ``status``."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        parameter: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorBody(error=error, message=message, parameter=parameter)
        self.headers = dict(headers or {})


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Token bucket per client: ``rate`` requests/s sustained, ``burst`` at once."""

    rate: float = 20.0
    burst: int = 40
    max_clients: int = 10_000  # buckets kept; the least recently seen client is forgotten


class TokenBuckets:
    """In-process per-client token buckets (one event loop, so no lock is needed).

    In-process on purpose: one small class instead of a dependency, and right for one server
    process; several replicas would each allow the full rate (a shared store such as Redis
    would be the next step). Memory is bounded by forgetting the least recently seen client,
    which can only make the limit more lenient for that client, never stricter.
    """

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # insertion order = least recent first

    def take(self, client: str) -> float:
        """0 if ``client`` may make a request now (one token taken), else seconds to wait."""
        now = self.clock()
        tokens, last = self.buckets.pop(client, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - last) * self.limit.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.limit.rate
        self.buckets[client] = (tokens, now)
        if len(self.buckets) > self.limit.max_clients:
            del self.buckets[next(iter(self.buckets))]
        return wait


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """Connection-pool sizing and time limits; small by default (reads are single lookups)."""

    min_size: int = 1
    max_size: int = 4
    timeout: float = 5.0  # seconds a request waits for a free connection before a 503
    max_waiting: int = 256  # queued requests beyond this get a 503 at once (~0.25 s at 1,000/s)
    statement_timeout_ms: int = 5_000
    health_timeout: float = 2.0  # /healthz: for a connection, and again for its SELECT 1
    stall_margin: float = 1.0  # seconds past statement_timeout before a query is abandoned

    @property
    def query_deadline(self) -> float:
        """Seconds a query may go unanswered before its request gives up with a 503.

        The server's ``statement_timeout`` ends a slow query, but not one the server never
        runs (process stopped, network black-holed): this client-side bound ends those.
        """
        return self.statement_timeout_ms / 1000 + self.stall_margin


class QueryStalledError(Exception):
    """The database did not answer a query within its deadline (answered 503)."""


T = TypeVar("T")


async def _bounded_read(
    conn_pool: AsyncConnectionPool,
    wait: float,
    deadline: float,
    query: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]],
) -> T:
    """``query`` on a pooled connection (waiting ``wait`` s for one), abandoned after ``deadline``.

    An abandoned connection is closed, never handed back mid-query: the pool discards it and
    opens another. The deadline is an anyio scope because it cancels until the block is left:
    psycopg answers a first cancellation of a running query by asking the server to cancel it
    and waiting for the answer again, which a stopped server never sends.
    """
    async with conn_pool.connection(timeout=wait) as conn:
        with anyio.move_on_after(deadline):
            return await query(conn)
        await conn.close()
    raise QueryStalledError(f"no answer within {deadline:g} s")


async def _daily_pay_row(
    key: Mapping[str, Any], conn: psycopg.AsyncConnection[Any]
) -> tuple[Any, ...] | None:
    """The ``driver_daily_pay`` row of ``key``, or None."""
    cur = await conn.execute(DAILY_PAY_SQL, key)
    return await cur.fetchone()


async def _pay_line_rows(
    query: str, key: Mapping[str, Any], conn: psycopg.AsyncConnection[Any]
) -> list[DictRow]:
    """One page of ``pay_lines`` rows (and one more, if there is another page)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, key)
        return await cur.fetchall()


async def _select_one(conn: psycopg.AsyncConnection[Any]) -> None:
    """The health check's round trip."""
    await (await conn.execute("SELECT 1")).fetchone()


class OrjsonResponse(JSONResponse):
    """JSON encoded by orjson: the same compact bytes as Starlette's, several times faster."""

    def render(self, content: Any) -> bytes:
        """The body: ``content`` (dicts, lists, str, int, bool, None) as compact JSON bytes."""
        return orjson.dumps(content)


# Every route answers HEAD as it answers GET, without the body (RFC 9110 §9.1: ``curl -I``, probes).
READ_METHODS = ["GET", "HEAD"]

# Routing failures, in the API's own error body (``ErrorBody``).
_ROUTING_ERRORS = {
    404: (
        "not_found",
        "no such path: the API serves /v1/drivers/{driver_id}/pay[/lines], /healthz",
    ),
    405: ("method_not_allowed", "method not allowed: the API answers GET and HEAD (see Allow)"),
}


def _error_response(err: ApiError) -> JSONResponse:
    return OrjsonResponse(
        status_code=err.status, content=err.body.model_dump(exclude_none=True), headers=err.headers
    )


def _bad_request(parameter: str, detail: str | None = None) -> ApiError:
    message = _PARAM_HELP.get(parameter, f"invalid {parameter}")
    return ApiError(
        400, "bad_request", f"{detail}: {message}" if detail else message, parameter=parameter
    )


def _parse_date(text: str) -> date:
    if not CALENDAR_DATE.fullmatch(text):
        raise _bad_request("date")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _bad_request("date", f"{text} is not a calendar date") from None


def _check_driver_id(driver_id: str) -> str:
    """Every id the job pays can be asked for: the event contract's rules, nothing narrower."""
    try:
        return valid_identifier(driver_id, "driver_id")
    except MalformedEventError:
        raise _bad_request("driver_id") from None


def _money(minor_units: int, currency: str) -> str:
    try:
        return format(from_minor(minor_units, currency), "f")
    except ValueError:
        log.error("stored row has unknown currency %r", currency)
        raise ApiError(500, "internal", f"stored row has unknown currency {currency!r}") from None


def _instant(moment: datetime | None) -> str | None:
    return None if moment is None else format_ms(from_datetime(moment))


def _decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _daily_pay(row: tuple[Any, ...]) -> dict[str, Any]:
    """The ``DailyPay`` body of a ``DAILY_PAY_SQL`` row, as a dict in the model's field order.

    Built without the model on the hot path (tests/unit/test_api_body.py checks it against
    ``DailyPay``): the body is serialised as it is.
    """
    driver_id, pay_date, total_cents, currency, line_count, as_of, final, post_final, version = row
    return {
        "driver_id": driver_id,
        "date": pay_date.isoformat(),
        "total": _money(total_cents, currency),
        "total_cents": total_cents,
        "currency": currency,
        "line_count": line_count,
        "as_of": _instant(as_of),
        "final": final,
        "post_final": post_final,
        "version": version,
    }


def _pay_line(row: DictRow) -> PayLine:
    weighted = row["weighted_ms"]
    return PayLine(
        line_id=row["line_id"],
        kind=row["kind"],
        order_id=row["order_id"],
        zone=row["zone"],
        start=_instant(row["start_ts"]),
        end=_instant(row["end_ts"]),
        base_ms=row["base_ms"],
        weighted_ms=None if weighted is None else json_number(weighted),
        rate_per_minute=_decimal_text(row["rate_per_minute"]),
        amount=_money(row["amount_cents"], row["currency"]),
        currency=row["currency"],
        zones_version=row["zones_version"],
        rule_version=row["rule_version"],
        reason=row["reason"],
    )


def _encode_cursor(driver_id: str, day: date, row: DictRow) -> str:
    """Where the next page starts: the last row's sort key, bound to the driver-day."""
    start = row["start_ts"]
    position = {
        "d": driver_id,
        "p": day.isoformat(),
        "s": None if start is None else start.isoformat(),
        "l": row["line_id"],
    }
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, driver_id: str, day: date) -> dict[str, Any]:
    """SQL parameters continuing after ``cursor``; 400 if it is not one of ours for this day."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
        start_text, line = position["s"], position["l"]
        if not isinstance(line, str) or not isinstance(start_text, str | None):
            raise TypeError("not a cursor this API wrote")  # e.g. a list coerced by str()
        start = None if start_text is None else datetime.fromisoformat(start_text)
        same_day = (position["d"], position["p"]) == (driver_id, day.isoformat())
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise _bad_request("cursor") from None
    if not same_day or (start is not None and start.tzinfo is None) or has_control_characters(line):
        raise _bad_request("cursor")  # a NUL would fail the query itself: a 500, not a 400
    return {"after_start": start, "after_line": line}


async def _configure_session(statement_timeout_ms: int, conn: psycopg.AsyncConnection[Any]) -> None:
    """Run once per new pooled connection (autocommit, so these are session settings)."""
    await conn.execute("SET default_transaction_read_only = on")
    await conn.execute(
        "SELECT set_config('statement_timeout', %s, false)", (str(statement_timeout_ms),)
    )


def _api_version() -> str:
    try:
        return package_version("driverpay")
    except PackageNotFoundError:
        return "0.0.0"


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A malformed driver_id or date."},
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token."},
    503: {
        "model": ErrorBody,
        "description": "The database is unreachable, saturated or does not answer in time.",
    },
}

DESCRIPTION = """\
Read side of driverpay: each driver's pay for a local pay date, as written by the streaming job
into PostgreSQL, and the ledger lines behind it for audit.

Every `/v1` endpoint needs `Authorization: Bearer <token>`. Amounts are decimal strings with the
currency's minor-unit places (`"15.00"` USD, `"297"` JPY); instants are RFC 3339 UTC. Errors are
`{"error": code, "message": text, "parameter"?: name}`.
"""


BEARER = HTTPBearer(
    scheme_name="bearerAuth",
    description=f"The shared API token ({TOKEN_ENV} of the server).",
    auto_error=False,
)


async def get_pool(request: Request) -> AsyncConnectionPool:
    """The app's connection pool (opened by the lifespan); async, so no threadpool hop."""
    conn_pool: AsyncConnectionPool = request.app.state.pool
    return conn_pool


PoolDep = Annotated[AsyncConnectionPool, Depends(get_pool)]
LimitParam = Annotated[
    int, Query(ge=1, le=MAX_PAGE, description=f"Lines per page, 1 to {MAX_PAGE}.")
]
CursorParam = Annotated[
    str | None,
    Query(
        max_length=1024,
        description="Opaque: the `next_cursor` of the previous page, unchanged.",
    ),
]
DriverIdParam = Annotated[
    str, Path(description="The driver's id.", max_length=MAX_ID_CHARS, examples=["d-0042"])
]
DateParam = Annotated[
    str,
    Query(
        alias="date",
        description="Local pay date, YYYY-MM-DD.",
        pattern=DATE_PATTERN,
        examples=["2026-11-24"],
    ),
]


def create_app(
    dsn: str, token: str, *, pool: PoolSettings | None = None, rate: RateLimit | None = None
) -> FastAPI:
    """The API, reading through a pool on ``dsn`` (meant for the read-only role, see module doc).

    The pool opens in the lifespan without waiting for the database, so the server starts even
    while PostgreSQL is down: ``/healthz`` answers 503 and reads 503 until it is reachable.
    """
    if not token:
        raise ConfigError(f"an API token is required (set {TOKEN_ENV})")
    if not token.isascii() or not token.isprintable():
        # HTTP headers arrive as Latin-1: a token outside printable ASCII could never match
        raise ConfigError(f"{TOKEN_ENV} must be printable ASCII")
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"{TOKEN_ENV} must be at least {MIN_TOKEN_CHARS} characters, got {len(token)}"
            " (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    settings = pool or PoolSettings()
    expected = token.encode()
    buckets = TokenBuckets(rate or RateLimit())
    ensure_pgpassfile_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        conn_pool: AsyncConnectionPool = AsyncConnectionPool(
            dsn,
            min_size=settings.min_size,
            max_size=settings.max_size,
            open=False,
            kwargs={"autocommit": True, "application_name": "driverpay-api", "connect_timeout": 5},
            configure=partial(_configure_session, settings.statement_timeout_ms),
            name="driverpay-api",
            timeout=settings.timeout,
            max_waiting=settings.max_waiting,
        )
        await conn_pool.open(wait=False)
        app.state.pool = conn_pool
        try:
            yield
        finally:
            await conn_pool.close()

    app = FastAPI(
        title="driverpay read API",
        version=_api_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        # Swagger UI and ReDoc load scripts from a third-party CDN: off; /openapi.json stays.
        docs_url=None,
        redoc_url=None,
        openapi_tags=[
            {"name": "pay", "description": "Drivers' daily pay (bearer token required)."},
            {"name": "ops", "description": "Health checks (no auth)."},
        ],
    )

    app.add_middleware(Guard, buckets=buckets)

    async def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    ) -> None:
        if credentials is None:
            raise ApiError(
                401, "unauthorized", "missing bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        if not hmac.compare_digest(credentials.credentials.encode(), expected):
            raise ApiError(
                401, "unauthorized", "invalid bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    router = APIRouter(prefix="/v1", tags=["pay"], dependencies=[Depends(require_token)])

    @router.api_route(
        "/drivers/{driver_id:any_id}/pay",
        methods=READ_METHODS,
        response_model=DailyPay,
        summary="A driver's pay for one day",
        description="The driver-day's current total from `driver_daily_pay` (one primary-key "
        "lookup): total, currency, line count, as-of, final/post-final flags and version. "
        "404 when the job has written nothing for that driver and date.",
        responses={**_ERRORS, 404: {"model": ErrorBody, "description": "No pay for that day."}},
    )
    async def get_daily_pay(driver_id: DriverIdParam, day: DateParam, conn_pool: PoolDep) -> Any:
        key = {"driver_id": _check_driver_id(driver_id), "pay_date": _parse_date(day)}
        row = await _bounded_read(
            conn_pool, settings.timeout, settings.query_deadline, partial(_daily_pay_row, key)
        )
        if row is None:
            raise ApiError(404, "not_found", f"no pay recorded for driver {driver_id} on {day}")
        # the body is built in DailyPay's shape (unit-tested), so no response-model round trip
        return OrjsonResponse(_daily_pay(row), headers=PRIVATE_NO_STORE)

    @router.api_route(
        "/drivers/{driver_id:any_id}/pay/lines",
        methods=READ_METHODS,
        response_model=PayLines,
        summary="A driver's ledger lines for one day (audit)",
        description="The lines from `pay_lines` for the driver-day (LINE, REVERSAL, "
        "ADJUSTMENT), ordered by start then line_id, at most `limit` per page. When more "
        "remain, `next_cursor` is set: pass it as `cursor` for the next page. An empty list "
        "when there are none.",
        responses=_ERRORS,
    )
    async def get_pay_lines(
        driver_id: DriverIdParam,
        day: DateParam,
        conn_pool: PoolDep,
        response: Response,
        limit: LimitParam = DEFAULT_PAGE,
        cursor: CursorParam = None,
    ) -> PayLines:
        pay_date = _parse_date(day)
        key: dict[str, Any] = {"driver_id": _check_driver_id(driver_id), "pay_date": pay_date}
        after = ""
        if cursor is not None:
            key |= _decode_cursor(cursor, driver_id, pay_date)
            after = _AFTER_UNTIMED if key["after_start"] is None else _AFTER_TIMED
        key["limit"] = limit + 1  # one more row tells whether another page exists
        query = PAY_LINES_SQL.format(after=after)
        rows = await _bounded_read(
            conn_pool,
            settings.timeout,
            settings.query_deadline,
            partial(_pay_line_rows, query, key),
        )
        page = rows[:limit]
        next_cursor = _encode_cursor(driver_id, pay_date, page[-1]) if len(rows) > limit else None
        response.headers["Cache-Control"] = "private, no-store"
        return PayLines(
            driver_id=driver_id,
            date=day,
            lines=[_pay_line(r) for r in page],
            next_cursor=next_cursor,
        )

    app.include_router(router)
    _document_400_not_422(app)

    @app.api_route(
        "/healthz",
        methods=READ_METHODS,
        response_model=Health,
        tags=["ops"],
        summary="Health check",
        description="`SELECT 1` through the connection pool: 200 when it answers, else 503 "
        "(also when it does not answer in time).",
        responses={503: {"model": Health, "description": "The database is unreachable."}},
    )
    async def healthz(conn_pool: PoolDep) -> Any:
        wait = settings.health_timeout
        try:
            await _bounded_read(conn_pool, wait, wait, _select_one)
        except (psycopg.Error, QueryStalledError) as exc:
            log.warning("health check failed: %s", exc)
            return JSONResponse(
                status_code=503,
                content={"status": "unavailable", "message": "database unreachable"},
                headers={"Cache-Control": "no-store"},
            )
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """An unknown route or method answers the API's error body, not FastAPI's ``detail``."""
        error, message = _ROUTING_ERRORS.get(exc.status_code, ("http_error", str(exc.detail)))
        return _error_response(ApiError(exc.status_code, error, message, headers=exc.headers))

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        """400, not FastAPI's 422, naming the first bad parameter."""
        for err in exc.errors():
            loc = err.get("loc", ())
            if len(loc) >= 2 and loc[0] in ("path", "query"):
                name = str(loc[-1])
                detail = f"{name} is required" if err.get("type") == "missing" else None
                return _error_response(_bad_request(name, detail))
        return _error_response(ApiError(400, "bad_request", "malformed request"))

    @app.exception_handler(QueryStalledError)
    async def on_db_stalled(request: Request, exc: QueryStalledError) -> JSONResponse:
        log.warning("database stalled: %s", exc)
        return _error_response(ApiError(503, "unavailable", "database unavailable, retry later"))

    @app.exception_handler(psycopg.OperationalError)
    async def on_db_unavailable(request: Request, exc: psycopg.OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return _error_response(ApiError(503, "unavailable", "database unavailable, retry later"))

    @app.exception_handler(psycopg.Error)
    async def on_db_error(request: Request, exc: psycopg.Error) -> JSONResponse:
        log.error("database error: %s", exc)
        return _error_response(ApiError(500, "internal", "database error"))

    return app


class Guard:
    """Rate limit (before auth, so token guessing is throttled too), then security headers.

    Plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` (``@app.middleware``) runs the
    app in a separate task and streams its body through memory channels, which profiled as the
    largest share of a request's CPU (docs/design.md, "Read path under load").
    """

    def __init__(self, app: ASGIApp, buckets: TokenBuckets) -> None:
        self.app = app
        self.buckets = buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 429 when the client's bucket is empty, else the app with the headers added."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        wait = 0.0 if scope["path"] == "/healthz" else self.buckets.take(_client_key(scope))
        if wait > 0:
            retry = str(max(1, math.ceil(wait)))
            response = _error_response(
                ApiError(
                    429,
                    "rate_limited",
                    f"too many requests, retry in {retry} s",
                    headers={"Retry-After": retry},
                )
            )
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def _client_key(scope: Scope) -> str:
    """The peer address (uvicorn applies X-Forwarded-For only from its trusted proxies)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _document_400_not_422(app: FastAPI) -> None:
    """Drop FastAPI's automatic 422 from the OpenAPI document: validation answers 400 here.

    Each route's HEAD operation goes too: it is its GET without a body.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for operations in schema.get("paths", {}).values():
                operations.pop("head", None)  # GET's twin without a body: documented once
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            schemas = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _int_env(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {text!r}") from None
    if not 1 <= value <= MAX_SETTING:
        raise ConfigError(f"{name} must be between 1 and {MAX_SETTING:,}, got {text!r}")
    return value


def app_from_env(environ: Mapping[str, str] | None = None) -> FastAPI:
    """The app configured from the environment (``driverpay serve``); ConfigError if unusable."""
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(f"{TOKEN_ENV} is not set: the API needs a bearer token to serve")
    defaults = PoolSettings()
    min_size = _int_env(env, POOL_MIN_ENV, defaults.min_size)
    max_size = _int_env(env, POOL_MAX_ENV, max(defaults.max_size, min_size))
    if max_size < min_size:
        raise ConfigError(f"{POOL_MAX_ENV} ({max_size}) is below {POOL_MIN_ENV} ({min_size})")
    limits = RateLimit()
    rate = RateLimit(
        rate=float(_int_env(env, RATE_ENV, int(limits.rate))),
        burst=_int_env(env, BURST_ENV, limits.burst),
    )
    dsn = env.get(READ_DSN_ENV) or DEFAULT_READ_DSN
    return create_app(
        dsn, token, pool=PoolSettings(min_size=min_size, max_size=max_size), rate=rate
    )
