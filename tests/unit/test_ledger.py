"""The pay ledger: deterministic line ids, one line per local day, exact reversals, stable JSON."""

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from udfs.ledger import (
    LineKind,
    PaidInterval,
    PayLine,
    identity_text,
    json_number,
    lines_for,
)
from udfs.pay import RULE_VERSION
from udfs.timefmt import parse_rfc3339_ms as ms
from udfs.zones import Zones, load_zones, parse_zones

ROOT = Path(__file__).resolve().parents[2]
ZONES_FILE = ROOT / "config" / "zones.yaml"
MINUTE = 60_000

SF_1000 = ms("2026-11-24T10:00:00-08:00")
SF_1030 = ms("2026-11-24T10:30:00-08:00")
SF_1130 = ms("2026-11-24T11:30:00-08:00")  # half an hour into sf's 11:00-13:00 x2 window
SF_2330 = ms("2026-11-24T23:30:00-08:00")
SF_MIDNIGHT = ms("2026-11-25T00:00:00-08:00")
SF_0030 = ms("2026-11-25T00:30:00-08:00")

CONTRACT_LEDGER_FIELDS = {
    "line_id",
    "kind",
    "order_id",
    "driver_id",
    "zone",
    "pay_date",
    "start",
    "end",
    "base_ms",
    "weighted_ms",
    "rate_per_minute",
    "amount",
    "currency",
    "zones_version",
    "reason",
}


@pytest.fixture(scope="module")
def zones() -> Zones:
    return load_zones(ZONES_FILE)


def interval(start: int, end: int, zone: str = "sf", order: str = "o-1") -> PaidInterval:
    return PaidInterval(order, "d-1", zone, start, end, f"{order}-acc", f"{order}-del", "DELIVERED")


MORNING = interval(SF_1000, SF_1130)
ACROSS_MIDNIGHT = interval(SF_2330, SF_0030)


def test_a_morning_interval_becomes_one_line_with_everything_to_recompute_it(zones: Zones) -> None:
    [line] = lines_for(MORNING, zones)
    assert line.kind is LineKind.LINE
    assert line.pay_date == date(2026, 11, 24)
    assert (line.start_ms, line.end_ms) == (SF_1000, SF_1130)
    assert line.base_ms == 90 * MINUTE
    assert line.weighted_ms == 60 * MINUTE + 2 * 30 * MINUTE
    assert line.rate_per_minute == Decimal("0.30")
    assert line.amount == Decimal("36.00")
    assert (line.currency, line.zones_version) == ("USD", zones.version)
    assert line.schedule_version == zones["sf"].schedule.version
    assert line.reason is None


def test_the_same_interval_twice_gets_the_same_line_ids(zones: Zones) -> None:
    first, again = lines_for(ACROSS_MIDNIGHT, zones), lines_for(ACROSS_MIDNIGHT, zones)
    assert [line.line_id for line in first] == [line.line_id for line in again]
    assert first == again


def test_a_different_zones_version_gives_different_line_ids(zones: Zones) -> None:
    edited = ZONES_FILE.read_bytes().replace(b"# Reference", b"# reference", 1)
    other = parse_zones(edited)
    assert other.version != zones.version
    [before], [after] = lines_for(MORNING, zones), lines_for(MORNING, other)
    assert before.line_id != after.line_id
    assert before.amount == after.amount


@pytest.mark.parametrize(
    "changed",
    [
        replace(MORNING, order_id="o-2"),
        replace(MORNING, driver_id="d-2"),
        replace(MORNING, start_event_id="o-1-acc-2"),
        replace(MORNING, end_event_id="o-1-can"),
        replace(MORNING, start_ms=SF_1000 + 1),
        replace(MORNING, end_ms=SF_1130 + 1),
    ],
    ids=["order", "driver", "start event", "end event", "start", "end"],
)
def test_any_change_of_identity_gives_a_different_line_id(
    zones: Zones, changed: PaidInterval
) -> None:
    assert lines_for(changed, zones)[0].line_id != lines_for(MORNING, zones)[0].line_id


def test_two_orders_whose_ids_hold_a_pipe_do_not_share_a_line_id(zones: Zones) -> None:
    """Joined by ``|`` as they were, both identities read ``o|d|d|a1|d1|...``."""
    first = PaidInterval("o", "d", "sf", SF_1000, SF_1030, "d|a1", "d1", "DELIVERED")
    second = PaidInterval("o|d", "d", "sf", SF_1000, SF_1030, "a1", "d1", "DELIVERED")
    [one], [other] = lines_for(first, zones), lines_for(second, zones)
    assert one.line_id != other.line_id
    assert one.interval_key != other.interval_key


def test_a_plain_line_of_an_order_named_like_an_adjustment_is_not_that_adjustment(
    zones: Zones,
) -> None:
    [adjustment] = lines_for(MORNING, zones, LineKind.ADJUSTMENT, revision=1)
    named = replace(MORNING, order_id=f"ADJUSTMENT|1|{MORNING.order_id}")
    assert lines_for(named, zones)[0].line_id != adjustment.line_id


def test_ids_without_a_pipe_or_backslash_are_the_ids_issued_before(zones: Zones) -> None:
    """The old formula, verbatim: keyed state and replays keep matching the lines already paid."""
    [line] = lines_for(MORNING, zones)
    identity = (
        "o-1", "d-1", "o-1-acc", "o-1-del", SF_1000, SF_1130, line.pay_date, zones.version,
    )  # fmt: skip
    old = hashlib.sha256("|".join(map(str, identity)).encode()).hexdigest()[:32]
    assert line.line_id == old


identity_parts = st.lists(st.text(alphabet="a|\\", max_size=4), min_size=1, max_size=5)


@settings(max_examples=500, deadline=None)
@given(identity_parts, identity_parts)
def test_different_identities_never_share_a_text(a: list[str], b: list[str]) -> None:
    assert (identity_text(*a) == identity_text(*b)) == (a == b)


def test_a_midnight_crossing_interval_yields_two_lines_on_different_pay_dates(zones: Zones) -> None:
    late, early = lines_for(ACROSS_MIDNIGHT, zones)
    assert (late.pay_date, early.pay_date) == (date(2026, 11, 24), date(2026, 11, 25))
    assert (late.start_ms, late.end_ms, early.start_ms, early.end_ms) == (
        SF_2330,
        SF_MIDNIGHT,
        SF_MIDNIGHT,
        SF_0030,
    )
    assert late.line_id != early.line_id
    assert late.interval == early.interval == ACROSS_MIDNIGHT
    assert late.amount == early.amount == Decimal("9.00")


def test_a_reversal_negates_amount_base_and_weighted_time(zones: Zones) -> None:
    [line] = lines_for(MORNING, zones)
    [reversal] = lines_for(MORNING, zones, LineKind.REVERSAL, reason="driver disputed", revision=1)
    assert reversal.kind is LineKind.REVERSAL
    assert reversal.amount == -line.amount == Decimal("-36.00")
    assert reversal.base_ms == -line.base_ms
    assert reversal.weighted_ms == -line.weighted_ms
    assert reversal.reason == "driver disputed"
    assert reversal.pay_date == line.pay_date


def test_a_reversal_never_shares_the_line_id_of_the_line_it_negates(zones: Zones) -> None:
    [line] = lines_for(MORNING, zones)
    [reversal] = lines_for(MORNING, zones, LineKind.REVERSAL, reason="test")
    [adjustment] = lines_for(MORNING, zones, LineKind.ADJUSTMENT, reason="test")
    assert len({line.line_id, reversal.line_id, adjustment.line_id}) == 3


def test_successive_revisions_get_distinct_line_ids(zones: Zones) -> None:
    ids = {
        lines_for(MORNING, zones, LineKind.ADJUSTMENT, "fix", revision)[0].line_id
        for revision in (1, 2, 3)
    }
    assert len(ids) == 3


def test_reversing_a_zero_pay_line_writes_zero_not_negative_zero(zones: Zones) -> None:
    nothing = interval(SF_1000, SF_1000)
    [reversal] = lines_for(nothing, zones, LineKind.REVERSAL, reason="test", revision=1)
    record = reversal.to_record()
    assert (record["amount"], record["base_ms"], record["weighted_ms"]) == ("0.00", 0, 0)


def test_a_record_has_every_ledger_field_the_brief_names(zones: Zones) -> None:
    [line] = lines_for(MORNING, zones)
    record = json.loads(line.to_json())
    assert record.keys() >= CONTRACT_LEDGER_FIELDS
    assert record == {
        "line_id": line.line_id,
        "kind": "LINE",
        "order_id": "o-1",
        "driver_id": "d-1",
        "zone": "sf",
        "pay_date": "2026-11-24",
        "start": "2026-11-24T18:00:00.000Z",
        "end": "2026-11-24T19:30:00.000Z",
        "base_ms": 5_400_000,
        "weighted_ms": 7_200_000,
        "rate_per_minute": "0.30",
        "amount": "36.00",
        "amount_minor": 3600,
        "currency": "USD",
        "zones_version": zones.version,
        "schedule_version": zones["sf"].schedule.version,
        "rule_version": RULE_VERSION,
        "interval_start": "2026-11-24T18:00:00.000Z",
        "interval_end": "2026-11-24T19:30:00.000Z",
        "start_event_id": "o-1-acc",
        "end_event_id": "o-1-del",
        "end_type": "DELIVERED",
        "reason": None,
    }


def test_line_ids_are_32_hex_characters(zones: Zones) -> None:
    [line] = lines_for(MORNING, zones)
    assert len(line.line_id) == 32
    int(line.line_id, 16)


def test_to_json_is_canonical_compact_text(zones: Zones) -> None:
    [line] = lines_for(MORNING, zones)
    text = line.to_json()
    assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    assert "\n" not in text
    assert " " not in text
    assert text.startswith('{"line_id":"')


def test_to_json_is_byte_stable_across_processes_and_hash_seeds(zones: Zones) -> None:
    here = "\n".join(
        line.to_json() for iv in (MORNING, ACROSS_MIDNIGHT) for line in lines_for(iv, zones)
    )
    script = (
        "from dataclasses import replace\n"
        "from udfs.ledger import PaidInterval, lines_for\n"
        "from udfs.zones import load_zones\n"
        f"zones = load_zones({str(ZONES_FILE)!r})\n"
        f"ivs = [PaidInterval('o-1', 'd-1', 'sf', {SF_1000}, {SF_1130}, 'o-1-acc', 'o-1-del',"
        " 'DELIVERED'),\n"
        f"       PaidInterval('o-1', 'd-1', 'sf', {SF_2330}, {SF_0030}, 'o-1-acc', 'o-1-del',"
        " 'DELIVERED')]\n"
        "print('\\n'.join(line.to_json() for iv in ivs for line in lines_for(iv, zones)))\n"
    )
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, check=True
        )
        assert out.stdout.decode().rstrip("\n") == here


def test_a_fractional_weight_is_written_as_an_exact_decimal_string(zones: Zones) -> None:
    tokyo_lunch = ms("2026-11-24T11:30:00+09:00")  # x1.25 window
    [line] = lines_for(interval(tokyo_lunch, tokyo_lunch + 3, zone="tokyo"), zones)
    record = line.to_record()
    assert record["weighted_ms"] == "3.75"
    assert record["amount"] == "0"  # yen: no minor unit
    assert record["currency"] == "JPY"


def test_json_numbers_are_integers_when_whole_and_exact_text_otherwise() -> None:
    assert json_number(Decimal("2400000.00")) == 2_400_000
    assert json_number(Decimal("-3.750")) == "-3.75"
    assert json_number(Decimal("1E+3")) == 1000


def by_hand(record: dict) -> Decimal:
    """rate/min x weighted minutes, exactly, rounded half up once to the currency's minor unit.

    Written out with fractions, independently of ``udfs.money``, as an auditor would check it.
    """
    digits = {"USD": 2, "JPY": 0}[record["currency"]]
    exact = Fraction(record["rate_per_minute"]) * Fraction(str(record["weighted_ms"])) / 60_000
    units = int(exact * 10**digits + Fraction(1, 2))  # positive: int() floors
    return Decimal(units).scaleb(-digits)


def test_every_line_can_be_recomputed_by_hand_from_its_record(zones: Zones) -> None:
    cases = [
        MORNING,
        ACROSS_MIDNIGHT,
        interval(SF_1030, SF_2330),
        interval(
            ms("2026-11-24T12:59:59.999+09:00"), ms("2026-11-24T14:00:00.001+09:00"), zone="tokyo"
        ),
    ]
    for line in (line for iv in cases for line in lines_for(iv, zones)):
        record = line.to_record()
        assert Decimal(record["amount"]) == by_hand(record)
        assert record["base_ms"] == ms(record["end"]) - ms(record["start"])


def test_the_lines_of_an_interval_add_up_to_the_whole_intervals_weighted_time(zones: Zones) -> None:
    long_shift = interval(SF_1030, SF_0030)
    lines = lines_for(long_shift, zones)
    assert len(lines) == 2
    assert sum(line.base_ms for line in lines) == SF_0030 - SF_1030
    whole = zones["sf"].schedule.weighted_ms(SF_1030, SF_0030)
    assert sum(line.weighted_ms for line in lines) == whole


def test_pay_line_is_immutable(zones: Zones) -> None:
    [line] = lines_for(MORNING, zones)
    assert isinstance(line, PayLine)
    with pytest.raises(AttributeError):
        line.amount = Decimal(0)  # type: ignore[misc]


SF_ONLY = b"""zones:
  sf:
    timezone: America/Los_Angeles
    currency: USD
    rate_per_minute: "0.30"
    peak_windows:
      - {start: "2026-11-24T11:00", end: "2026-11-24T13:00", multiplier: "2"}
"""


def test_line_ids_are_the_ones_earlier_releases_issued_so_a_replay_after_an_upgrade_dedups() -> (
    None
):
    """Pinned as 9949163 issued them: the daily stage and the sinks key on these ids."""
    zones = parse_zones(SF_ONLY)
    late_shift = PaidInterval(
        "o-1",
        "d-1",
        "sf",
        ms("2026-11-24T23:30:00-08:00"),
        ms("2026-11-25T00:30:00-08:00"),
        "a-1",
        "d-1",
        "DELIVERED",
    )
    lines = lines_for(late_shift, zones)
    assert zones.version == "sha256:a0059553d705618b"
    assert [(x.line_id, x.interval_key) for x in lines] == [
        ("32f35da838ee081d60ddc63b6a50cc72", "32f35da838ee081d60ddc63b6a50cc72"),
        ("e9a3016c1f7dac83a9089d4e1d22d5d3", "e9a3016c1f7dac83a9089d4e1d22d5d3"),
    ]
    adjusted = lines_for(late_shift, zones, LineKind.ADJUSTMENT, "r", revision=2)
    assert [x.line_id for x in adjusted] == [
        "0bf0fd1ed9271d5e90f11ee9ac387e86",
        "700925f41514bc5817f9b992d013309d",
    ]
