"""Compare a run's daily totals with the generator's truth, to the cent."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

Key = tuple[str, str]


@dataclass
class Comparison:
    """Driver-days that match, differ, or appear on one side only."""

    matched: int = 0
    mismatched: list[tuple[Key, Any, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every driver-day agrees on total, currency and line count."""
        return not self.mismatched


def daily_from_truth(truth: dict[str, Any]) -> dict[Key, tuple[Decimal, str, int]]:
    """Expected ``(total, currency, line_count)`` per driver-day."""
    return {
        (r["driver_id"], r["pay_date"]): (Decimal(r["total"]), r["currency"], r["line_count"])
        for r in truth["daily"]
    }


def daily_from_output(rows: list[dict[str, Any]]) -> dict[Key, tuple[Decimal, str, int]]:
    """Observed ``(total, currency, line_count)`` per driver-day, from the latest versions."""
    return {
        (r["driver_id"], r["pay_date"]): (Decimal(r["total"]), r["currency"], r["line_count"])
        for r in rows
    }


def compare(expected: dict[Key, Any], observed: dict[Key, Any]) -> Comparison:
    """Every driver-day on either side must agree exactly (zero totals count as absent)."""
    result = Comparison()
    for key in sorted(set(expected) | set(observed)):
        want, got = expected.get(key), observed.get(key)
        if want == got or (want is None and got is not None and got[0] == 0 and got[2] == 0):
            result.matched += 1
        else:
            result.mismatched.append((key, want, got))
    return result
