"""The read API (BRIEF 1.5): drivers' daily pay and its audit lines, served from PostgreSQL.

Readers connect as their own role. The streaming job writes ``pay_lines`` and ``driver_daily_pay``
as ``driverpay`` (the owner); this API connects as ``driverpay_reader``, which holds only
``CONNECT``, ``USAGE`` on the schema and ``SELECT`` on the tables. An internet-facing process is
the most likely one to be compromised or to carry a bug (an injected or mistaken statement), so
its credentials must not be able to change pay: least privilege is enforced by the database, not
by trusting this code. Its sessions also set ``default_transaction_read_only = on`` (a second,
independent guard, e.g. if the DSN is pointed at the owner role by mistake) and a
``statement_timeout``, and it can be given its own connection limits and be revoked or rotated
without touching the writer.

Every read is one indexed lookup with bound parameters: the primary key ``(driver_id, pay_date)``
of ``driver_daily_pay``, or the ``(driver_id, pay_date)`` index of ``pay_lines``.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Annotated, Any

import psycopg
from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRouter
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from driverpay.api_models import DailyPay, ErrorBody, Health, PayLine, PayLines
from udfs.ledger import json_number
from udfs.money import from_minor
from udfs.timefmt import format_ms, from_datetime

log = logging.getLogger("driverpay.api")

READ_DSN_ENV = "DRIVERPAY_PG_READ_DSN"
DEFAULT_READ_DSN = "postgresql://driverpay_reader@127.0.0.1:5432/driverpay"
TOKEN_ENV = "DRIVERPAY_API_TOKEN"
POOL_MIN_ENV = "DRIVERPAY_API_POOL_MIN"
POOL_MAX_ENV = "DRIVERPAY_API_POOL_MAX"

DRIVER_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_DRIVER_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

_PARAM_HELP = {
    "driver_id": f"driver_id must match {DRIVER_ID_PATTERN}",
    "date": "date must be a calendar date written YYYY-MM-DD, e.g. 2026-11-24",
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
WHERE driver_id = %(driver_id)s AND pay_date = %(pay_date)s
ORDER BY start_ts ASC NULLS LAST, line_id COLLATE "C" ASC
"""


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
class PoolSettings:
    """Connection-pool sizing and time limits; small by default (reads are single lookups)."""

    min_size: int = 1
    max_size: int = 4
    timeout: float = 5.0  # seconds a request waits for a free connection before a 503
    max_waiting: int = 32  # queued requests beyond this get a 503 at once
    statement_timeout_ms: int = 5_000
    health_timeout: float = 2.0


def _error_response(err: ApiError) -> JSONResponse:
    return JSONResponse(
        status_code=err.status, content=err.body.model_dump(exclude_none=True), headers=err.headers
    )


def _bad_request(parameter: str, detail: str | None = None) -> ApiError:
    message = _PARAM_HELP.get(parameter, f"invalid {parameter}")
    return ApiError(
        400, "bad_request", f"{detail}: {message}" if detail else message, parameter=parameter
    )


def _parse_date(text: str) -> date:
    if not _DATE.fullmatch(text):
        raise _bad_request("date")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _bad_request("date", f"{text} is not a calendar date") from None


def _check_driver_id(driver_id: str) -> str:
    if not _DRIVER_ID.fullmatch(driver_id):
        raise _bad_request("driver_id")
    return driver_id


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


def _daily_pay(row: DictRow) -> DailyPay:
    return DailyPay(
        driver_id=row["driver_id"],
        date=row["pay_date"].isoformat(),
        total=_money(row["total_cents"], row["currency"]),
        total_cents=row["total_cents"],
        currency=row["currency"],
        line_count=row["line_count"],
        as_of=_instant(row["as_of"]),
        final=row["final"],
        post_final=row["post_final"],
        version=row["version"],
    )


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


def _configure_session(statement_timeout_ms: int, conn: psycopg.Connection[Any]) -> None:
    """Run once per new pooled connection (autocommit, so these are session settings)."""
    conn.execute("SET default_transaction_read_only = on")
    conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(statement_timeout_ms),))


def _api_version() -> str:
    try:
        return package_version("driverpay")
    except PackageNotFoundError:
        return "0.0.0"


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A malformed driver_id or date."},
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token."},
    503: {"model": ErrorBody, "description": "The database is unreachable or saturated."},
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


def get_pool(request: Request) -> ConnectionPool:
    """The app's connection pool (opened by the lifespan)."""
    conn_pool: ConnectionPool = request.app.state.pool
    return conn_pool


PoolDep = Annotated[ConnectionPool, Depends(get_pool)]
DriverIdParam = Annotated[
    str, Path(description="The driver's id.", pattern=DRIVER_ID_PATTERN, examples=["d-0042"])
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


def create_app(dsn: str, token: str, *, pool: PoolSettings | None = None) -> FastAPI:
    """The API, reading through a pool on ``dsn`` (meant for the read-only role, see module doc).

    The pool opens in the lifespan without waiting for the database, so the server starts even
    while PostgreSQL is down: ``/healthz`` answers 503 and reads 503 until it is reachable.
    """
    if not token:
        raise ConfigError(f"an API token is required (set {TOKEN_ENV})")
    settings = pool or PoolSettings()
    expected = token.encode()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        conn_pool = ConnectionPool(
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
        conn_pool.open(wait=False)
        app.state.pool = conn_pool
        try:
            yield
        finally:
            await run_in_threadpool(conn_pool.close)

    app = FastAPI(
        title="driverpay read API",
        version=_api_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "pay", "description": "Drivers' daily pay (bearer token required)."},
            {"name": "ops", "description": "Health checks (no auth)."},
        ],
    )

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

    @router.get(
        "/drivers/{driver_id}/pay",
        response_model=DailyPay,
        summary="A driver's pay for one day",
        description="The driver-day's current total from `driver_daily_pay` (one primary-key "
        "lookup): total, currency, line count, as-of, final/post-final flags and version. "
        "404 when the job has written nothing for that driver and date.",
        responses={**_ERRORS, 404: {"model": ErrorBody, "description": "No pay for that day."}},
    )
    def get_daily_pay(
        driver_id: DriverIdParam, day: DateParam, conn_pool: PoolDep, response: Response
    ) -> DailyPay:
        key = {"driver_id": _check_driver_id(driver_id), "pay_date": _parse_date(day)}
        with conn_pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(DAILY_PAY_SQL, key).fetchone()
        if row is None:
            raise ApiError(404, "not_found", f"no pay recorded for driver {driver_id} on {day}")
        response.headers["Cache-Control"] = "private, no-store"
        return _daily_pay(row)

    @router.get(
        "/drivers/{driver_id}/pay/lines",
        response_model=PayLines,
        summary="A driver's ledger lines for one day (audit)",
        description="Every line from `pay_lines` for the driver-day (LINE, REVERSAL, "
        "ADJUSTMENT), ordered by start then line_id. An empty list when there are none.",
        responses=_ERRORS,
    )
    def get_pay_lines(
        driver_id: DriverIdParam, day: DateParam, conn_pool: PoolDep, response: Response
    ) -> PayLines:
        key = {"driver_id": _check_driver_id(driver_id), "pay_date": _parse_date(day)}
        with conn_pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(PAY_LINES_SQL, key).fetchall()
        response.headers["Cache-Control"] = "private, no-store"
        return PayLines(driver_id=driver_id, date=day, lines=[_pay_line(r) for r in rows])

    app.include_router(router)
    _document_400_not_422(app)

    @app.get(
        "/healthz",
        response_model=Health,
        tags=["ops"],
        summary="Health check",
        description="`SELECT 1` through the connection pool: 200 when it answers, else 503.",
        responses={503: {"model": Health, "description": "The database is unreachable."}},
    )
    def healthz(conn_pool: PoolDep) -> Any:
        try:
            with conn_pool.connection(timeout=settings.health_timeout) as conn:
                conn.execute("SELECT 1").fetchone()
        except psycopg.Error as exc:
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

    @app.exception_handler(psycopg.OperationalError)
    async def on_db_unavailable(request: Request, exc: psycopg.OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return _error_response(ApiError(503, "unavailable", "database unavailable, retry later"))

    @app.exception_handler(psycopg.Error)
    async def on_db_error(request: Request, exc: psycopg.Error) -> JSONResponse:
        log.error("database error: %s", exc)
        return _error_response(ApiError(500, "internal", "database error"))

    return app


def _document_400_not_422(app: FastAPI) -> None:
    """Drop FastAPI's automatic 422 from the OpenAPI document: validation answers 400 here."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for operations in schema.get("paths", {}).values():
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
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
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
    dsn = env.get(READ_DSN_ENV) or DEFAULT_READ_DSN
    return create_app(dsn, token, pool=PoolSettings(min_size=min_size, max_size=max_size))
