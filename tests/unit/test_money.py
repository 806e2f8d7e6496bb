"""Money: exact decimals, one half-up rounding per line to the currency's minor unit."""

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driverpay.paycmd import compute
from udfs.money import MINOR_UNITS, from_minor, minor_unit, pay_amount, round_money, to_minor

SECOND = 1000
RATE_030 = Decimal("0.30")  # 0.30 per minute = exactly half a cent per second


def test_exactly_half_a_cent_rounds_up() -> None:
    assert round_money(Decimal("0.005")) == Decimal("0.01")


def test_half_up_is_not_bankers_rounding() -> None:
    assert round_money(Decimal("0.025")) == Decimal("0.03")
    assert round_money(Decimal("2.675")) == Decimal("2.68")  # 2.67 with binary floats


def test_just_below_half_a_cent_rounds_down() -> None:
    assert round_money(Decimal("0.004999")) == Decimal("0.00")


def test_rounded_amounts_always_carry_the_minor_unit_places() -> None:
    assert str(round_money(Decimal(12))) == "12.00"
    assert str(round_money(Decimal("12.3"))) == "12.30"


def test_negative_amounts_round_symmetrically_away_from_zero_at_the_half() -> None:
    assert round_money(Decimal("-0.005")) == Decimal("-0.01")


def test_yen_has_no_minor_unit() -> None:
    assert minor_unit("JPY") == 0
    assert round_money(Decimal("12.5"), "JPY") == Decimal(13)
    assert str(round_money(Decimal("12.4"), "JPY")) == "12"
    assert to_minor(Decimal("12.5"), "JPY") == 13
    assert str(from_minor(13, "JPY")) == "13"


def test_three_decimal_currencies_round_to_the_fils() -> None:
    assert str(round_money(Decimal("1.0005"), "BHD")) == "1.001"
    assert to_minor(Decimal("1.0005"), "BHD") == 1001


def test_cents_convert_to_and_from_integer_minor_units() -> None:
    assert to_minor(Decimal("12.345"), "USD") == 1235
    assert str(from_minor(1235, "USD")) == "12.35"
    assert str(from_minor(-7, "USD")) == "-0.07"


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown currency 'XXX'"):
        round_money(Decimal(1), "XXX")


@settings(max_examples=300, deadline=None)
@given(st.integers(-(10**15), 10**15), st.sampled_from(sorted(MINOR_UNITS)))
def test_minor_units_round_trip_exactly(units: int, currency: str) -> None:
    amount = from_minor(units, currency)
    assert to_minor(amount, currency) == units
    assert amount.as_tuple().exponent == -minor_unit(currency)


def test_one_second_at_thirty_cents_a_minute_pays_half_a_cent_rounded_up() -> None:
    assert pay_amount(RATE_030, Decimal(SECOND), "USD") == Decimal("0.01")


def test_pay_amount_is_a_decimal_rounded_once_to_the_minor_unit() -> None:
    amount = pay_amount(Decimal("0.35"), Decimal("1234567.25"), "USD")
    assert isinstance(amount, Decimal)
    assert amount == Decimal("7.20")  # 0.35 x 20.576120833 min = 7.2016422916...


def test_a_product_longer_than_28_digits_is_rounded_once_not_twice() -> None:
    """0.00499...9 (32 places) for one minute is under half a cent: 0.00, not 0.01."""
    assert pay_amount(Decimal("0.00499999999999999999999999999999"), Decimal(60_000), "USD") == (
        Decimal("0.00")
    )


ten_places = {"places": 10, "allow_nan": False, "allow_infinity": False}


@settings(max_examples=300, deadline=None)
@given(
    st.decimals(min_value=0, max_value=1000, **ten_places),  # any rate a zones file may hold
    st.decimals(min_value=0, max_value=4_320_000_000, **ten_places),  # 12 h at x100
)
def test_pay_amount_is_the_exact_product_rounded_half_up_once(
    rate: Decimal, weighted: Decimal
) -> None:
    exact = Fraction(rate) * Fraction(weighted) / 60_000
    cents = math.floor(exact * 100 + Fraction(1, 2))
    assert pay_amount(rate, weighted, "USD") == Decimal(cents).scaleb(-2)


def test_pay_command_totals_the_rounded_lines() -> None:
    one_second = {"start": 0, "end": SECOND}
    out = compute({"rate_per_minute": "0.30", "intervals": [one_second] * 3})
    assert [line["pay"] for line in out["intervals"]] == ["0.01"] * 3
    assert out["total"] == "0.03"
