"""Exact money: decimal amounts, one half-up rounding to the currency's minor unit."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

# ISO 4217 minor units for the currencies we accept; unknown ones are a reference-data error.
MINOR_UNITS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CAD": 2,
    "AUD": 2,
    "NZD": 2,
    "MXN": 2,
    "BRL": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "INR": 2,
    "SGD": 2,
    "HKD": 2,
    "JPY": 0,
    "KRW": 0,
    "CLP": 0,
    "ISK": 0,
    "BHD": 3,
    "KWD": 3,
    "JOD": 3,
}

MS_PER_MINUTE = Decimal(60_000)


def minor_unit(currency: str) -> int:
    """Number of decimal places of ``currency``'s minor unit."""
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise ValueError(f"unknown currency {currency!r}") from None


def round_money(amount: Decimal, currency: str = "USD") -> Decimal:
    """Round once, half-up, to the minor unit: the only rounding a pay line gets."""
    exponent = Decimal(1).scaleb(-minor_unit(currency))
    return amount.quantize(exponent, rounding=ROUND_HALF_UP)


def to_minor(amount: Decimal, currency: str) -> int:
    """A rounded amount as an integer count of minor units (cents for USD)."""
    return int(round_money(amount, currency).scaleb(minor_unit(currency)))


def from_minor(units: int, currency: str) -> Decimal:
    """Integer minor units back to a decimal amount with the currency's places."""
    return Decimal(units).scaleb(-minor_unit(currency))


def pay_amount(rate_per_minute: Decimal, weighted_ms: Decimal, currency: str) -> Decimal:
    """``rate x weighted minutes``, rounded once.

    The product can pass Decimal's default 28 digits (a 14-digit rate times a 22-digit weighted
    time); rounded there first, an amount just under half a cent could round up twice. With 64
    digits the product is exact for every zones document (``udfs.zones``: at most 10 decimal
    places), and the division by 60,000 cannot land on a half cent it is not exactly on.
    """
    with localcontext() as exact:
        exact.prec = 64
        amount = rate_per_minute * weighted_ms / MS_PER_MINUTE
    return round_money(amount, currency)
