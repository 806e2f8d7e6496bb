"""JSON shapes of the read API (contracts §8): what clients get back, documented in OpenAPI."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DailyPay(BaseModel):
    """One driver-day's pay total, as last written by the streaming job."""

    driver_id: str = Field(examples=["d-0042"])
    date: str = Field(description="Local pay date, YYYY-MM-DD.", examples=["2026-11-24"])
    total: str = Field(
        description="Decimal string with the currency's minor-unit places.", examples=["15.00"]
    )
    total_cents: int = Field(
        description="The total in integer minor units (cents for USD, yen for JPY).",
        examples=[1500],
    )
    currency: str = Field(description="ISO 4217 code.", examples=["USD"])
    line_count: int = Field(description="Ledger lines summed into the total.", examples=[3])
    as_of: str | None = Field(
        description="RFC 3339 UTC instant the total is complete up to (event time), or null.",
        examples=["2026-11-24T23:59:59.999Z"],
    )
    final: bool = Field(description="True once the day is closed.")
    post_final: bool = Field(description="True if the total changed after the day was closed.")
    version: int = Field(description="Monotonic version of this driver-day's total.", examples=[4])


class PayLine(BaseModel):
    """One ledger line (a paid interval, reversal or adjustment) of a driver-day."""

    line_id: str
    kind: str = Field(description="LINE, REVERSAL or ADJUSTMENT.")
    order_id: str | None
    zone: str | None
    start: str | None = Field(description="RFC 3339 UTC.")
    end: str | None = Field(description="RFC 3339 UTC.")
    base_ms: int | None
    weighted_ms: int | str | None = Field(
        description="Peak-weighted milliseconds: an integer when whole, else exact decimal text "
        "(the same rendering as the pay-ledger topic)."
    )
    rate_per_minute: str | None = Field(description="Decimal string.")
    amount: str = Field(
        description="Signed decimal string with the currency's minor-unit places.",
        examples=["-4.50"],
    )
    currency: str
    zones_version: str | None
    rule_version: str | None
    reason: str | None = Field(description="Why a REVERSAL or ADJUSTMENT was made; null for LINE.")


class PayLines(BaseModel):
    """One page of a driver-day's ledger lines, ordered by (start, line_id)."""

    driver_id: str
    date: str
    lines: list[PayLine]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page. Opaque."
    )


class ErrorBody(BaseModel):
    """Every non-2xx answer of the API."""

    error: str = Field(
        description="Machine-readable code: bad_request, unauthorized, not_found, rate_limited, "
        "unavailable, internal.",
        examples=["not_found"],
    )
    message: str = Field(description="Human-readable explanation.")
    parameter: str | None = Field(
        default=None, description="The offending request parameter, for bad_request."
    )


class Health(BaseModel):
    """Liveness of the API and its database pool."""

    status: str = Field(examples=["ok"])
    message: str | None = None
