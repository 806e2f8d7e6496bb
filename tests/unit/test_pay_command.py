"""``driverpay pay`` (contracts §4) as a real subprocess: JSON in, JSON out, exit 2 on bad input."""

import json
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from driverpay.paycmd import PayInputError, compute

ROOT = Path(__file__).resolve().parents[2]
DRIVERPAY = ROOT / ".venv" / "bin" / "driverpay"

T1000, T1030 = "2026-11-24T10:00:00Z", "2026-11-24T10:30:00Z"
T1020, T1100 = "2026-11-24T10:20:00Z", "2026-11-24T11:00:00Z"
T1000_MS, T1030_MS = 1_795_514_400_000, 1_795_516_200_000
T1020_MS, T1100_MS = 1_795_515_600_000, 1_795_518_000_000

CONTRACT_PEAK = {"start": T1020, "end": T1100, "multiplier": "2"}
CONTRACT_EXAMPLE: dict[str, Any] = {
    "rate_per_minute": "0.30",
    "intervals": [{"start": T1000, "end": T1030}],
    "peaks": [CONTRACT_PEAK],
}


def run_pay(stdin: str | bytes) -> subprocess.CompletedProcess[str]:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    done = subprocess.run([DRIVERPAY, "pay"], input=data, capture_output=True, timeout=60)
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def pay(doc: Any) -> dict[str, Any]:
    done = run_pay(json.dumps(doc))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def test_the_brief_example_pays_twelve_dollars() -> None:
    out = pay(CONTRACT_EXAMPLE)
    assert out == {
        "total": "12.00",
        "intervals": [
            {
                "start": T1000,
                "end": T1030,
                "base_ms": 1_800_000,
                "weighted_ms": 2_400_000,
                "pay": "12.00",
            }
        ],
    }


def test_the_output_is_one_json_document_on_one_line() -> None:
    done = run_pay(json.dumps(CONTRACT_EXAMPLE))
    assert done.stdout.count("\n") == 1
    assert done.stdout.endswith("}\n")


def test_epoch_millisecond_timestamps_are_accepted() -> None:
    out = pay(
        {
            "rate_per_minute": "0.30",
            "intervals": [{"start": T1000_MS, "end": T1030_MS}],
            "peaks": [{"start": T1020_MS, "end": T1100_MS, "multiplier": "2"}],
        }
    )
    assert out["total"] == "12.00"
    assert out["intervals"] == [
        {
            "start": T1000_MS,
            "end": T1030_MS,
            "base_ms": 1_800_000,
            "weighted_ms": 2_400_000,
            "pay": "12.00",
        }
    ]


def test_rfc3339_and_epoch_milliseconds_can_be_mixed() -> None:
    doc = {**CONTRACT_EXAMPLE, "intervals": [{"start": T1000_MS, "end": T1030}]}
    assert pay(doc)["total"] == "12.00"


def test_several_intervals_total_the_sum_of_their_rounded_lines() -> None:
    one_second = {"start": T1000_MS, "end": T1000_MS + 1000}  # 0.005 -> 0.01 each
    out = pay(
        {
            "rate_per_minute": "0.30",
            "intervals": [one_second] * 3 + [{"start": T1000, "end": T1030}],
        }
    )
    lines = [Decimal(line["pay"]) for line in out["intervals"]]
    assert lines == [Decimal("0.01")] * 3 + [Decimal("9.00")]
    assert out["total"] == "9.03"  # the rounded exact sum would be 9.02


def test_numeric_rate_and_multiplier_are_read_exactly() -> None:
    doc = {
        **CONTRACT_EXAMPLE,
        "rate_per_minute": 0.3,
        "peaks": [{**CONTRACT_PEAK, "multiplier": 2}],
    }
    assert pay(doc)["total"] == "12.00"


def test_a_request_without_peaks_pays_plain_time() -> None:
    doc = {"rate_per_minute": "0.30", "intervals": [{"start": T1000, "end": T1030}]}
    assert pay(doc)["total"] == "9.00"


def test_no_intervals_pay_zero() -> None:
    assert pay({"rate_per_minute": "0.30", "intervals": []}) == {"total": "0.00", "intervals": []}


def test_a_zero_length_interval_pays_zero() -> None:
    out = pay({**CONTRACT_EXAMPLE, "intervals": [{"start": T1020, "end": T1020}]})
    assert out["intervals"][0] | {"start": 0, "end": 0} == {
        "start": 0,
        "end": 0,
        "base_ms": 0,
        "weighted_ms": 0,
        "pay": "0.00",
    }


def test_a_fractional_weight_is_reported_as_an_exact_decimal_string() -> None:
    out = pay(
        {
            "rate_per_minute": "0.30",
            "intervals": [{"start": 0, "end": 3}],
            "peaks": [{"start": 0, "end": 10, "multiplier": "1.25"}],
        }
    )
    assert out["intervals"][0]["weighted_ms"] == "3.75"


BAD_INPUTS = [
    pytest.param(
        {"intervals": [{"start": T1000, "end": T1030}]}, "rate_per_minute", id="missing rate"
    ),
    pytest.param({**CONTRACT_EXAMPLE, "rate_per_minute": "-1"}, "rate_per_minute", id="neg rate"),
    pytest.param({**CONTRACT_EXAMPLE, "rate_per_minute": "NaN"}, "rate_per_minute", id="NaN rate"),
    pytest.param({**CONTRACT_EXAMPLE, "rate_per_minute": True}, "rate_per_minute", id="bool rate"),
    pytest.param(
        {
            **CONTRACT_EXAMPLE,
            "intervals": [{"start": T1000, "end": T1030}, {"start": T1000, "end": "half past ten"}],
        },
        "intervals[1].end",
        id="bad second end",
    ),
    pytest.param(
        {**CONTRACT_EXAMPLE, "intervals": [{"start": T1000, "end": "2026-11-24T10:30:00"}]},
        "intervals[0].end",
        id="naive end",
    ),
    pytest.param(
        {**CONTRACT_EXAMPLE, "intervals": [{"start": T1030, "end": T1000}]},
        "intervals[0].end",
        id="end before start",
    ),
    pytest.param(
        {**CONTRACT_EXAMPLE, "intervals": [{"end": T1030}]}, "intervals[0].start", id="no start"
    ),
    pytest.param({**CONTRACT_EXAMPLE, "intervals": ["10:00-10:30"]}, "intervals[0]", id="string"),
    pytest.param({**CONTRACT_EXAMPLE, "intervals": {"start": T1000}}, "intervals", id="not a list"),
    pytest.param({"rate_per_minute": "0.30"}, "intervals", id="missing intervals"),
    pytest.param(
        {**CONTRACT_EXAMPLE, "peaks": [{"start": T1020, "end": T1100, "multiplier": "double"}]},
        "peaks[0].multiplier",
        id="bad multiplier",
    ),
    pytest.param(
        {**CONTRACT_EXAMPLE, "peaks": [{"start": T1020, "end": T1100}]},
        "peaks[0].multiplier",
        id="missing multiplier",
    ),
    pytest.param(
        {**CONTRACT_EXAMPLE, "peaks": [{"start": T1100, "end": T1020, "multiplier": "2"}]},
        "peaks[0].end",
        id="peak end before start",
    ),
    pytest.param(
        {**CONTRACT_EXAMPLE, "intervals": [{"start": 1.5e12, "end": T1030}]},
        "intervals[0].start",
        id="float epoch",
    ),
    pytest.param(
        {**CONTRACT_EXAMPLE, "rate_per_minute": "1e30"}, "rate_per_minute", id="absurd rate"
    ),
    pytest.param(
        {**CONTRACT_EXAMPLE, "rate_per_minute": "1e999999"}, "rate_per_minute", id="1e999999"
    ),
    pytest.param({**CONTRACT_EXAMPLE, "rate_per_minute": "-0"}, "rate_per_minute", id="-0 rate"),
    pytest.param(
        {**CONTRACT_EXAMPLE, "rate_per_minute": "0.1234567"}, "rate_per_minute", id="7 places"
    ),
    *[
        pytest.param(
            {**CONTRACT_EXAMPLE, "peaks": [{**CONTRACT_PEAK, "multiplier": m}]},
            "peaks[0].multiplier",
            id=f"multiplier {m[:12]}",
        )
        for m in ["1e999999", "1e-999999", "NaN", "Infinity", "-0", "1001", "9" * 100, " 2", "2_0"]
    ],
    pytest.param(
        {**CONTRACT_EXAMPLE, "intervals": [{"start": T1000, "end": "2100-01-01T00:00:00Z"}]},
        "intervals[0].end",
        id="end in 2100",
    ),
    pytest.param(
        {**CONTRACT_EXAMPLE, "intervals": [{"start": -1, "end": T1030}]},
        "intervals[0].start",
        id="start before 1970",
    ),
    pytest.param(
        {**CONTRACT_EXAMPLE, "peaks": [{**CONTRACT_PEAK, "end": 10**25}]},
        "peaks[0].end",
        id="huge epoch peak end",
    ),
    pytest.param({**CONTRACT_EXAMPLE, "peaks": {}}, "peaks", id="peaks not a list"),
    pytest.param(["not", "an", "object"], "document", id="array document"),
]


@pytest.mark.parametrize(("doc", "field"), BAD_INPUTS)
def test_bad_input_exits_2_with_one_stderr_line_naming_the_field(doc: Any, field: str) -> None:
    done = run_pay(json.dumps(doc))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.endswith("\n")
    assert field in done.stderr


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"rate_per_minute": "0.30", "intervals": [', id="truncated"),
        pytest.param("", id="empty stdin"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="nested too deep"),
        pytest.param(
            '{"rate_per_minute": "0.30", "intervals": [], "peaks": [], "note": NaN}',
            id="NaN in an unknown field",
        ),
    ],
)
def test_invalid_json_exits_2_with_one_stderr_line(text: str) -> None:
    done = run_pay(text)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.count("\n") == 1
    assert "invalid JSON" in done.stderr


@pytest.mark.parametrize(("doc", "field"), BAD_INPUTS)
def test_compute_raises_an_error_whose_message_starts_with_the_field(doc: Any, field: str) -> None:
    with pytest.raises(PayInputError) as caught:
        compute(json.loads(json.dumps(doc)))
    assert str(caught.value).startswith(field)
