"""``driverpay pay`` (docs/contracts.md §4): one JSON document in, one out, errors naming the field.

Every input is untrusted, so everything is bounded before the engine sees it: the engine's
exact decimal arithmetic is only exact (and only fast) inside these bounds, and an error that
names the field is worth more to a caller than a traceback.

Bounds (anything outside them is bad input, exit 2):

- the document: at most ``MAX_INPUT_BYTES`` (8 MiB) of UTF-8 without a byte order mark, one JSON
  object, no duplicate keys, nested at most as deeply as Python's parser allows;
- ``intervals`` (required) and ``peaks`` (optional): lists of at most ``MAX_ITEMS`` (100,000)
  objects each;
- ``rate_per_minute`` and each ``multiplier``: a decimal string like ``"0.30"`` (or a JSON
  number), ``0 <= x <= 1000``, at most 6 decimal places, no minus sign (not even ``"-0"``);
  ``NaN``, ``Infinity`` and digit strings longer than 64 characters are refused;
- ``start`` and ``end``: RFC 3339 with an explicit offset, or integer epoch milliseconds,
  with ``1970-01-01T00:00:00Z <= t < 2100-01-01T00:00:00Z``, and ``start <= end``.

Inside them a line's weighted time has at most 22 significant digits, rate x weighted time at
most 32 and the total at most 21, so with ``_PRECISION`` digits every product is exact and every
quotient is far closer than a cent's half to the true value: the one half-up rounding is exact.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from udfs.jsontext import refuse_constant
from udfs.ledger import json_number
from udfs.money import round_money
from udfs.pay import price_span
from udfs.schedule import PeakSchedule, PeakWindow
from udfs.timefmt import TimestampError, parse_rfc3339_ms

CURRENCY = "USD"  # The pay command's contract has no currency: amounts are rounded to cents.

MAX_INPUT_BYTES = 8 * 1024 * 1024
MAX_ITEMS = 100_000
MAX_AMOUNT = Decimal(1000)  # for both rate_per_minute and multiplier
MAX_PLACES = 6
MAX_DECIMAL_CHARS = 64
EARLIEST_MS = 0  # 1970-01-01T00:00:00Z
END_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z, excluded

# rate x weighted time has at most 10 + 22 digits: the 28-digit default context would round it.
_PRECISION = 60
_PLACES = Decimal(1).scaleb(-MAX_PLACES)
_DECIMAL_TEXT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_LONGEST_INT_LITERAL = 30  # longer integer literals become Decimals: never an int conversion DoS
_RANGE = "1970-01-01T00:00:00Z <= t < 2100-01-01T00:00:00Z"


class PayInputError(ValueError):
    """Bad input; the message starts with the offending field's path and is one line."""


def compute(doc: Any) -> dict[str, Any]:
    """Price every interval of the request; the total is the sum of the rounded lines."""
    if not isinstance(doc, dict):
        raise PayInputError("document: must be a JSON object")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        rate = _decimal(doc.get("rate_per_minute"), "rate_per_minute")
        raw_peaks = _list(doc, "peaks", required=False)
        schedule = PeakSchedule(_peak(p, f"peaks[{i}]") for i, p in enumerate(raw_peaks))
        lines, total = [], Decimal(0)
        for i, raw in enumerate(_list(doc, "intervals", required=True)):
            start, end = _span(raw, f"intervals[{i}]")
            base, weighted, amount = price_span(rate, schedule, start, end, CURRENCY)
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


def run(data: bytes | str) -> str:
    """Parse the request (at most ``MAX_INPUT_BYTES`` of UTF-8), compute, return the response.

    The CLI reads one byte more than the cap, so an oversized input is refused here rather
    than read to the end.
    """
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_INPUT_BYTES:
        raise PayInputError(f"document: larger than {MAX_INPUT_BYTES} bytes")
    if raw.startswith(b"\xef\xbb\xbf"):
        raise PayInputError("document: must not start with a byte order mark")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayInputError(f"document: not UTF-8 (byte {exc.start})") from None
    try:
        doc = json.loads(
            text,
            parse_float=_parse_float,  # JSON numbers stay exact
            parse_int=_parse_int,
            parse_constant=refuse_constant,
            object_pairs_hook=_object,
        )
    except RecursionError:
        raise PayInputError("document: invalid JSON: nested too deeply") from None
    except PayInputError:
        raise
    except ValueError as exc:
        raise PayInputError(f"document: invalid JSON: {_one_line(str(exc))}") from None
    return json.dumps(compute(doc))


def _parse_float(text: str) -> Decimal:
    """A JSON fraction or exponent number, exactly; NaN if Decimal cannot hold its exponent."""
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal("NaN")


def _parse_int(text: str) -> int | Decimal:
    """Integer literals, keeping absurdly long ones as Decimals for the bounds to refuse."""
    return int(text) if len(text) <= _LONGEST_INT_LITERAL else Decimal(text)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object; a repeated key is refused, since which copy wins would be a guess."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise PayInputError(f"document: duplicate key {_quote(key)}")
            seen.add(key)
    return obj


def _peak(raw: Any, where: str) -> PeakWindow:
    start, end = _span(raw, where)
    multiplier = _decimal(raw.get("multiplier"), f"{where}.multiplier")
    return PeakWindow(start, end, multiplier)


def _span(raw: Any, where: str) -> tuple[int, int]:
    if not isinstance(raw, dict):
        raise PayInputError(f"{where}: must be an object with start and end")
    start = _instant(raw.get("start"), f"{where}.start")
    end = _instant(raw.get("end"), f"{where}.end")
    if end < start:
        raise PayInputError(f"{where}.end: is before {where}.start")
    return start, end


def _instant(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        ms = value
    elif isinstance(value, str):
        try:
            ms = parse_rfc3339_ms(value)
        except TimestampError:
            ms = None
    else:
        ms = None
    if ms is None:
        raise PayInputError(f"{where}: must be RFC 3339 with offset or epoch milliseconds")
    if not EARLIEST_MS <= ms < END_MS:
        raise PayInputError(f"{where}: out of range, must be {_RANGE}")
    return ms


def _decimal(value: Any, where: str) -> Decimal:
    """A bounded non-negative decimal: see the module docstring for why these bounds."""
    if (
        isinstance(value, str)
        and len(value) <= MAX_DECIMAL_CHARS
        and _DECIMAL_TEXT.fullmatch(value)
    ):
        number = _parse_float(value)
    elif isinstance(value, int | Decimal) and not isinstance(value, bool):
        number = Decimal(value)
    else:
        raise PayInputError(f'{where}: must be a non-negative decimal string like "0.30"')
    if number.is_signed():
        raise PayInputError(f"{where}: must not be negative")
    if not (number.is_finite() and number <= MAX_AMOUNT and number == number.quantize(_PLACES)):
        raise PayInputError(
            f"{where}: must be at most {MAX_AMOUNT} with at most {MAX_PLACES} decimal places"
        )
    return number


def _list(doc: dict[str, Any], key: str, required: bool) -> list[Any]:
    value = doc.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise PayInputError(f"{key}: must be a list")
    if len(value) > MAX_ITEMS:
        raise PayInputError(f"{key}: at most {MAX_ITEMS} items, got {len(value)}")
    return value


def _quote(text: str, limit: int = 40) -> str:
    """A JSON-quoted, ASCII-only, shortened copy of user text: safe inside a one-line message."""
    quoted = json.dumps(text[:limit])
    return quoted if len(text) <= limit else quoted[:-1] + '..."'


def _one_line(text: str) -> str:
    return " ".join(text.split())
