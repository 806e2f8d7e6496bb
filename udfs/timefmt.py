"""RFC 3339 instants <-> epoch milliseconds, the only time representation the core uses."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$"
)


CALENDAR_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_calendar_date(text: str) -> date:
    """A pay date as the contracts write it, ``YYYY-MM-DD``, and nothing else.

    ``date.fromisoformat`` also takes ``20261124`` and ``2026-W48-2``; a command or a query that
    took them would answer for a date the caller did not write the way every output shows it.
    Raises ``ValueError`` naming the text.
    """
    if not CALENDAR_DATE.fullmatch(text):
        raise ValueError(f"not a date written YYYY-MM-DD: {text!r}")
    return date.fromisoformat(text)


class TimestampError(ValueError):
    """A value is not an RFC 3339 timestamp with an explicit offset."""


def parse_rfc3339_ms(text: str) -> int:
    """Return epoch milliseconds for an RFC 3339 timestamp; sub-millisecond digits are floored.

    The offset is mandatory: a naive local time would make the pay day ambiguous. UTC forms
    (``...Z``, what producers send) take integer arithmetic with the day cached, ~3x faster;
    anything else, and any UTC form that arithmetic would not judge the same, takes the general
    path (property-tested equal, tests/unit/test_timefmt.py).
    """
    match = _RFC3339_UTC.match(text)
    if match is not None:
        day, hour, minute, second, fraction = match.groups()
        days = _days_since_epoch(day)
        if days is not None and int(hour) < 24 and int(minute) < 60 and int(second) < 60:
            ms = int((fraction or "").ljust(3, "0")[:3])
            return (
                days * DAY_MS
                + int(hour) * 3_600_000
                + int(minute) * 60_000
                + int(second) * 1000
                + ms
            )
    return _parse_general(text)


def _parse_general(text: str) -> int:
    """Any RFC 3339 form, through ``datetime.fromisoformat``; the reference for the fast path."""
    if not _RFC3339.match(text):
        raise TimestampError(f"not an RFC 3339 timestamp with offset: {text!r}")
    normalized = text.upper().replace(" ", "T")
    if normalized.endswith("Z"):
        normalized = normalized[:-1] + "+00:00"
    head, dot, tail = normalized.partition(".")
    if dot:  # fromisoformat wants 0-6 fraction digits; keep milliseconds only.
        digits = tail[: len(tail) - 6]
        normalized = f"{head}.{(digits + '000')[:3]}{tail[-6:]}"
    try:
        parsed = datetime.fromisoformat(normalized)
    except ValueError as exc:
        raise TimestampError(f"invalid date or time in {text!r}: {exc}") from None
    return _epoch_ms(parsed)


_RFC3339_UTC = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?[Zz]\Z", re.ASCII
)


@lru_cache(maxsize=4096)
def _days_since_epoch(day: str) -> int | None:
    """Days from 1970-01-01 to ``YYYY-MM-DD``; None if no such date (the general path says why)."""
    try:
        return (date.fromisoformat(day) - _EPOCH_DATE).days
    except ValueError:
        return None


def _epoch_ms(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_ms(epoch_ms: int) -> str:
    """Render epoch milliseconds as RFC 3339 UTC with millisecond precision.

    Every ledger line and total carries four of these, so the time of day is plain integer
    arithmetic and only the date goes through ``datetime`` (cached per day): ~4x faster than
    formatting a datetime, same text (tests/unit/test_timefmt.py).
    """
    day, ms = divmod(epoch_ms, DAY_MS)
    if not _FOUR_DIGIT_YEARS[0] <= day < _FOUR_DIGIT_YEARS[1]:
        return _format_datetime(epoch_ms)
    hour, ms = divmod(ms, 3_600_000)
    minute, ms = divmod(ms, 60_000)
    second, ms = divmod(ms, 1000)
    return f"{_date_text(day)}T{hour:02d}:{minute:02d}:{second:02d}.{ms:03d}Z"


def _format_datetime(epoch_ms: int) -> str:
    """The reference rendering (and the one outside years 1000-9999, where %Y differs)."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, tz=UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"


DAY_MS = 86_400_000  # one UTC day; the one definition the core imports
_EPOCH_DATE = date(1970, 1, 1)
_FOUR_DIGIT_YEARS = (
    (date(1000, 1, 1) - _EPOCH_DATE).days,
    (date(9999, 12, 31) - _EPOCH_DATE).days + 1,
)


@lru_cache(maxsize=4096)
def _date_text(day: int) -> str:
    """``YYYY-MM-DD`` of a day counted from 1970-01-01."""
    return (_EPOCH_DATE + timedelta(days=day)).isoformat()


def to_datetime(epoch_ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(epoch_ms // 1000, tz=UTC).replace(
        microsecond=(epoch_ms % 1000) * 1000
    )


def from_datetime(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive ones are refused)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise TimestampError(f"naive datetime refused: {moment.isoformat()}")
    return _epoch_ms(moment)
