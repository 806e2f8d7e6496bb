"""``driverpay pay`` under hostile input: a valid response or a one-line error, never a crash.

The core (``run`` on bytes, ``compute`` on a parsed document) may only return a response or
raise ``PayInputError``, which the CLI turns into exit 2; the CLI itself is driven in-process
with typer's ``CliRunner`` for a handful of representative bad inputs.
"""

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from driverpay import paycmd
from driverpay.cli import app
from driverpay.paycmd import END_MS, MAX_INPUT_BYTES, MAX_ITEMS, PayInputError, compute, run

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

T1000, T1030 = "2026-11-24T10:00:00Z", "2026-11-24T10:30:00Z"
CONTRACT_PEAK = {"start": "2026-11-24T10:20:00Z", "end": "2026-11-24T11:00:00Z", "multiplier": "2"}
CONTRACT_EXAMPLE: dict[str, Any] = {
    "rate_per_minute": "0.30",
    "intervals": [{"start": T1000, "end": T1030}],
    "peaks": [CONTRACT_PEAK],
}

EXTREME_DECIMALS = [
    *["0", "0.30", "1", "2", "1.25", "1000", "999.999999", "0.000001", "2.000000000", "2E+2"],
    *["1000.000001", "0.0000001", "1e999999", "1e-999999", "1e99999999999999999999999999"],
    *["NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "-0", "-0.0", "-1", "+1"],
    *["1_0", "\uff11", " 1", "1 ", "1\n", ".5", "5.", "", "e5", "9" * 70, "0." + "1" * 60],
]
EXTREME_INSTANTS = [
    *[0, 1, END_MS - 1, END_MS, -1, 10**25, -(10**25), 1_795_514_400_000],
    *["2026-11-24T10:00:00Z", "2026-11-24T10:00:00.123456789+05:30", "1970-01-01T00:00:00Z"],
    *["2099-12-31T23:59:59.999Z", "2100-01-01T00:00:00Z", "1969-12-31T23:59:59.999Z"],
    *["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59", "2026-11-24T10:00:00"],
    *["2026-02-30T00:00:00Z", "2026-11-24T10:00:00Z\n", "2026-11-24T24:00:00Z", ""],
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(EXTREME_DECIMALS),
    st.sampled_from(EXTREME_INSTANTS),
)
json_ish = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["start", "end", "multiplier", "x"]), inner, max_size=4),
    max_leaves=12,
)


def mostly(
    valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """Valid four times in five, so most documents get past the first field to the deep ones."""
    return st.integers(0, 4).flatmap(lambda k: hostile if k == 0 else valid)


offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
rfc3339 = st.builds(
    lambda moment, tz: moment.replace(tzinfo=tz).isoformat(),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),  # noqa: DTZ001
    offsets,
)
in_range_ms = st.integers(min_value=0, max_value=END_MS - 1)
hostile_instants = st.one_of(
    st.sampled_from(EXTREME_INSTANTS),
    st.integers(min_value=-(2**64), max_value=2**64),
    rfc3339,
    json_ish,
)
bounded = st.decimals(min_value=0, max_value=1000, places=6)
amounts = mostly(
    bounded.map(str),
    st.one_of(
        st.sampled_from(EXTREME_DECIMALS),
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        st.integers(min_value=-(2**70), max_value=2**70),
        json_ish,
    ),
)
edges = mostly(
    st.lists(in_range_ms, min_size=2, max_size=2).map(sorted),
    st.tuples(mostly(in_range_ms, hostile_instants), hostile_instants),
)
spans = mostly(edges.map(lambda e: {"start": e[0], "end": e[1]}), json_ish)
peaks = mostly(
    st.builds(lambda e, m: {"start": e[0], "end": e[1], "multiplier": m}, edges, amounts), json_ish
)
documents = mostly(
    st.fixed_dictionaries(
        {"rate_per_minute": amounts, "intervals": mostly(st.lists(spans, max_size=4), json_ish)},
        optional={"peaks": mostly(st.lists(peaks, max_size=4), json_ish), "x": json_ish},
    ),
    json_ish,
)


def assert_valid_response(out: dict[str, Any], doc: dict[str, Any]) -> None:
    """A response has one rounded, non-negative line per interval, and they sum to the total."""
    assert set(out) == {"total", "intervals"}
    assert len(out["intervals"]) == len(doc["intervals"])
    pays = []
    for line, raw in zip(out["intervals"], doc["intervals"], strict=True):
        assert (line["start"], line["end"]) == (raw["start"], raw["end"])
        assert isinstance(line["base_ms"], int)
        assert line["base_ms"] >= 0
        assert Decimal(str(line["weighted_ms"])) >= 0
        pay = Decimal(line["pay"])
        assert pay >= 0
        assert pay.as_tuple().exponent == -2
        pays.append(pay)
    total = Decimal(out["total"])
    assert total.as_tuple().exponent == -2
    assert total == sum(pays, Decimal(0))


def core_answers(data: bytes) -> dict[str, Any] | None:
    """The response to ``data``, or None for a PayInputError; anything else fails the test."""
    try:
        out: dict[str, Any] = json.loads(run(data))
    except PayInputError as exc:
        message = str(exc)
    else:
        return out
    assert message.isascii()  # no U+2028 or other line breaks beyond ASCII
    assert "\n" not in message
    assert "\r" not in message
    return None


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_a_response_or_an_input_error(data: bytes) -> None:
    core_answers(data)


@FUZZ
@given(documents)
def test_arbitrary_json_documents_give_a_response_or_an_input_error(doc: Any) -> None:
    out = core_answers(json.dumps(doc).encode())
    if out is not None:
        assert_valid_response(out, doc)


@FUZZ
@given(documents)
def test_compute_on_arbitrary_python_documents_gives_a_response_or_an_input_error(
    doc: Any,
) -> None:
    try:
        out = compute(doc)
    except PayInputError:
        return
    assert_valid_response(json.loads(json.dumps(out)), doc)


@settings(max_examples=300, deadline=None)
@given(bounded, st.lists(st.tuples(in_range_ms, in_range_ms, bounded), max_size=3), in_range_ms)
def test_pay_at_the_bounds_is_the_exact_product_rounded_half_up_once(
    rate: Decimal, windows: list[tuple[int, int, Decimal]], end: int
) -> None:
    # The widest line: from 1970 to just before 2100, at rates and multipliers up to 1000 with
    # six places. Decimal's default 28 digits would round rate x weighted time here.
    doc = {
        "rate_per_minute": str(rate),
        "intervals": [{"start": 0, "end": end}],
        "peaks": [
            {"start": min(a, b), "end": max(a, b), "multiplier": str(m)} for a, b, m in windows
        ],
    }
    line = compute(doc)["intervals"][0]
    exact = Fraction(rate) * Fraction(str(line["weighted_ms"])) / 60_000
    assert Fraction(line["pay"]) == Fraction(int(exact * 200 + 1) // 2, 100)


def invoke_pay(stdin: bytes) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["pay"], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def with_peak(**changes: Any) -> bytes:
    return json.dumps({**CONTRACT_EXAMPLE, "peaks": [{**CONTRACT_PEAK, **changes}]}).encode()


def many_intervals(n: int) -> bytes:
    return json.dumps(
        {"rate_per_minute": "0.30", "intervals": [{"start": 0, "end": 0}] * n}
    ).encode()


BAD_STDIN = [
    pytest.param(with_peak(multiplier="1e999999"), "peaks[0].multiplier", id="1e999999"),
    pytest.param(with_peak(multiplier="1e-999999"), "peaks[0].multiplier", id="1e-999999"),
    pytest.param(with_peak(multiplier="NaN"), "peaks[0].multiplier", id="NaN"),
    pytest.param(with_peak(multiplier="Infinity"), "peaks[0].multiplier", id="Infinity"),
    pytest.param(with_peak(multiplier="-0"), "peaks[0].multiplier", id="-0"),
    pytest.param(with_peak(multiplier="9" * 5000), "peaks[0].multiplier", id="5000 digits"),
    pytest.param(with_peak(end=10**30), "peaks[0].end", id="epoch 1e30"),
    pytest.param(
        json.dumps({**CONTRACT_EXAMPLE, "rate_per_minute": "1e999999"}).encode(),
        "rate_per_minute",
        id="rate 1e999999",
    ),
    pytest.param(
        json.dumps({**CONTRACT_EXAMPLE, "rate_per_minute": True}).encode(),
        "rate_per_minute",
        id="bool rate",
    ),
    pytest.param(
        b'{"rate_per_minute": 1e99999999999999999999, "intervals": []}',
        "rate_per_minute",
        id="number beyond Decimal",
    ),
    # Not JSON at all (RFC 8259), so the document is what is wrong, as with a duplicate key.
    pytest.param(b'{"rate_per_minute": NaN, "intervals": []}', "document", id="NaN literal"),
    pytest.param(
        b'{"rate_per_minute": "0.30", "intervals": [{"start": 0, "end": 1' + b"0" * 5000 + b"}]}",
        "intervals[0].end",
        id="5000-digit integer",
    ),
    pytest.param(b'{"rate_per_minute": "0.30", "rate_per_minute": "9"}', "document", id="dup"),
    pytest.param(b"\xef\xbb\xbf" + json.dumps(CONTRACT_EXAMPLE).encode(), "document", id="BOM"),
    pytest.param(b'{"rate_per_minute": "\xff"}', "document", id="not UTF-8"),
    pytest.param(json.dumps(CONTRACT_EXAMPLE).encode("utf-16"), "document", id="UTF-16"),
    pytest.param(b"[1, 2]", "document", id="array"),
    pytest.param(b"null", "document", id="null"),
    pytest.param(nested(100_000), "document", id="nested 100,000 deep"),
    pytest.param(b" " * MAX_INPUT_BYTES + b"{}", "document", id="8 MiB + 2 bytes"),
    pytest.param(many_intervals(MAX_ITEMS + 1), "intervals", id="100,001 intervals"),
]


@pytest.mark.parametrize(("stdin", "field"), BAD_STDIN)
def test_the_cli_exits_2_with_one_error_line_naming_the_field(stdin: bytes, field: str) -> None:
    code, stdout, stderr = invoke_pay(stdin)
    assert (code, stdout) == (2, "")
    assert stderr.startswith(f"error: {field}")
    assert stderr.count("\n") == 1
    assert stderr.endswith("\n")


def test_the_cli_accepts_a_request_at_the_item_caps() -> None:
    peak = {"start": 0, "end": 1, "multiplier": "2"}
    doc = {
        "rate_per_minute": "0.30",
        "intervals": [{"start": 0, "end": 60_000}] * MAX_ITEMS,
        "peaks": [peak] * MAX_ITEMS,
    }
    stdin = json.dumps(doc, separators=(",", ":")).encode()
    assert len(stdin) <= MAX_INPUT_BYTES
    code, stdout, stderr = invoke_pay(stdin)
    assert (code, stderr) == (0, "")
    assert json.loads(stdout)["total"] == str(Decimal("0.30") * MAX_ITEMS)


def test_a_bug_is_one_error_line_with_exit_1_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(data: bytes) -> str:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(paycmd, "run", broken)
    code, stdout, stderr = invoke_pay(json.dumps(CONTRACT_EXAMPLE).encode())
    assert (code, stdout) == (1, "")
    assert stderr == "error: internal error (RuntimeError), please report it\n"


def test_the_help_states_the_bounds() -> None:
    help_text = " ".join(CliRunner().invoke(app, ["pay", "--help"]).stdout.split())
    for bound in ("8 MiB", "100,000", "1000", "6 decimal places", "1970", "2100"):
        assert bound in help_text


def test_the_timestamp_bounds_are_1970_and_2100_utc() -> None:
    assert int(datetime(2100, 1, 1, tzinfo=UTC).timestamp() * 1000) == END_MS
