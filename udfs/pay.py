"""Pricing an interval: split at local midnight, weight by the peak schedule, round once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from udfs.localday import split_by_local_day
from udfs.money import pay_amount
from udfs.schedule import Schedule
from udfs.zones import Zone

# Bumped whenever the pay formula changes, so old lines stay explainable.
RULE_VERSION = "pay-rules/1"


@dataclass(frozen=True, slots=True)
class PricedPart:
    """One local day's share of an interval, with everything needed to recompute it by hand."""

    pay_date: date
    start_ms: int
    end_ms: int
    base_ms: int
    weighted_ms: Decimal
    amount: Decimal


def price_span(
    rate_per_minute: Decimal, schedule: Schedule, start_ms: int, end_ms: int, currency: str
) -> tuple[int, Decimal, Decimal]:
    """``(base_ms, weighted_ms, amount)`` for ``[start, end)`` with no day splitting."""
    weighted = schedule.weighted_ms(start_ms, end_ms)
    return end_ms - start_ms, weighted, pay_amount(rate_per_minute, weighted, currency)


def price_interval(zone: Zone, start_ms: int, end_ms: int) -> list[PricedPart]:
    """Price a work interval in ``zone``: one part per local day it touches."""
    if end_ms < start_ms:
        raise ValueError(f"interval ends before it starts: [{start_ms}, {end_ms})")
    parts = []
    for day in split_by_local_day(start_ms, end_ms, zone.timezone):
        base, weighted, amount = price_span(
            zone.rate_per_minute, zone.schedule, day.start_ms, day.end_ms, zone.currency
        )
        parts.append(PricedPart(day.pay_date, day.start_ms, day.end_ms, base, weighted, amount))
    return parts
