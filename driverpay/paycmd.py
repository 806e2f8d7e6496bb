"""``driverpay pay`` (BRIEF 1.4): one JSON document in, one out, errors naming the field."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from udfs.ledger import json_number
from udfs.money import round_money
from udfs.pay import price_span
from udfs.schedule import PeakSchedule, PeakWindow
from udfs.timefmt import TimestampError, parse_rfc3339_ms

CURRENCY = "USD"  # BRIEF 1.4 has no currency: amounts are rounded to cents.


class PayInputError(ValueError):
    """Bad input; the message starts with the offending field's path."""


def compute(doc: Any) -> dict[str, Any]:
    """Price every interval of the request; the total is the sum of the rounded lines."""
    if not isinstance(doc, dict):
        raise PayInputError("document: must be a JSON object")
    rate = _decimal(doc, "rate_per_minute", "rate_per_minute")
    peaks = [_peak(p, f"peaks[{i}]") for i, p in enumerate(_list(doc, "peaks", required=False))]
    schedule = PeakSchedule(peaks)
    lines, total = [], Decimal(0)
    for i, raw in enumerate(_list(doc, "intervals", required=True)):
        start, end = _span(raw, f"intervals[{i}]")
        try:
            base, weighted, amount = price_span(rate, schedule, start, end, CURRENCY)
        except ArithmeticError:  # decimal.InvalidOperation: too many digits to round exactly
            raise PayInputError(f"intervals[{i}]: pay is too large to compute exactly") from None
        total += amount
        lines.append(
            {
                "start": raw["start"],
                "end": raw["end"],
                "base_ms": base,
                "weighted_ms": json_number(weighted),
                "pay": str(amount),
            }
        )
    return {"total": str(round_money(total, CURRENCY)), "intervals": lines}


def run(text: str) -> str:
    """Parse ``text``, compute, and return the output document."""
    try:
        doc = json.loads(text, parse_float=Decimal)  # JSON numbers stay exact
    except ValueError as exc:
        raise PayInputError(f"document: invalid JSON: {exc}") from None
    except RecursionError:
        raise PayInputError("document: invalid JSON: nested too deeply") from None
    return json.dumps(compute(doc))


def _peak(raw: Any, where: str) -> PeakWindow:
    start, end = _span(raw, where)
    multiplier = _decimal(raw, "multiplier", f"{where}.multiplier")
    return PeakWindow(start, end, multiplier)


def _span(raw: Any, where: str) -> tuple[int, int]:
    if not isinstance(raw, dict):
        raise PayInputError(f"{where}: must be an object with start and end")
    start = _instant(raw, "start", where)
    end = _instant(raw, "end", where)
    if end < start:
        raise PayInputError(f"{where}.end: is before {where}.start")
    return start, end


def _instant(raw: dict[str, Any], key: str, where: str) -> int:
    value = raw.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return parse_rfc3339_ms(value)
        except TimestampError:
            pass
    raise PayInputError(f"{where}.{key}: must be RFC 3339 with offset or epoch milliseconds")


def _decimal(raw: dict[str, Any], key: str, where: str) -> Decimal:
    value = raw.get(key)
    if isinstance(value, str | int | Decimal) and not isinstance(value, bool):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            number = Decimal("NaN")
        if number.is_finite() and number >= 0:
            return number
    raise PayInputError(f'{where}: must be a non-negative decimal string like "0.30"')


def _list(doc: dict[str, Any], key: str, required: bool) -> list[Any]:
    value = doc.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise PayInputError(f"{key}: must be a list")
    return value
