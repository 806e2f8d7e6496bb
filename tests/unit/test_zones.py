"""Zones reference data (contracts §3): validated with precise paths, local windows, hashed."""

import copy
import hashlib
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from udfs.events import EventType
from udfs.pay import price_interval
from udfs.timefmt import parse_rfc3339_ms as ms
from udfs.zones import DEFAULT_PAID_ON, ZonesError, load_zones, parse_zones

ZONES_FILE = Path(__file__).resolve().parents[2] / "config" / "zones.yaml"
HOUR = 3_600_000

MINIMAL: dict[str, Any] = {
    "zones": {
        "sf": {
            "timezone": "America/Los_Angeles",
            "currency": "USD",
            "rate_per_minute": "0.30",
            "paid_on": ["DELIVERED", "CANCELLED"],
            "peak_windows": [
                {"start": "2026-11-24T11:00", "end": "2026-11-24T13:00", "multiplier": "2"}
            ],
        }
    }
}


def zones_yaml(edit: Any = None) -> bytes:
    doc = copy.deepcopy(MINIMAL)
    if edit is not None:
        edit(doc["zones"]["sf"])
    return yaml.safe_dump(doc).encode()


def error_of(data: bytes) -> str:
    with pytest.raises(ZonesError) as caught:
        parse_zones(data, source="test.yaml")
    return str(caught.value)


def test_the_shipped_zones_file_loads() -> None:
    zones = load_zones(ZONES_FILE)
    assert sorted(zones) == ["nyc", "sf", "tokyo"]
    sf = zones["sf"]
    assert sf.timezone == ZoneInfo("America/Los_Angeles")
    assert (sf.currency, sf.rate_per_minute) == ("USD", Decimal("0.30"))
    assert sf.paid_on == {EventType.DELIVERED, EventType.CANCELLED}
    assert zones["tokyo"].paid_on == {EventType.DELIVERED}
    assert zones["tokyo"].currency == "JPY"


def test_zones_version_is_a_stable_hash_of_the_exact_bytes() -> None:
    data = ZONES_FILE.read_bytes()
    first, second = load_zones(ZONES_FILE), parse_zones(data)
    assert first.version == second.version
    assert first.version == "sha256:" + hashlib.sha256(data).hexdigest()[:16]


@pytest.mark.parametrize(
    ("old", "new"),
    [(b'"0.30"', b'"0.31"'), (b"T11:00", b"T11:01"), (b"# Reference", b"# reference")],
    ids=["rate", "window", "comment"],
)
def test_zones_version_changes_when_one_byte_changes(old: bytes, new: bytes) -> None:
    data = ZONES_FILE.read_bytes()
    assert data.count(old) >= 1
    edited = data.replace(old, new, 1)
    assert len(edited) == len(data)
    assert parse_zones(edited).version != parse_zones(data).version


def test_window_times_are_local_wall_clock_in_the_zone() -> None:
    zones = load_zones(ZONES_FILE)
    sf_lunch = zones["sf"].schedule.segments()[0]
    assert sf_lunch[:2] == (ms("2026-11-24T19:00:00Z"), ms("2026-11-24T21:00:00Z"))
    tokyo_lunch = zones["tokyo"].schedule.segments()[0]
    assert tokyo_lunch == (ms("2026-11-24T02:30:00Z"), ms("2026-11-24T04:30:00Z"), Decimal("1.25"))


def test_an_explicit_offset_on_a_window_time_is_honoured() -> None:
    def utc_window(sf: dict[str, Any]) -> None:
        sf["peak_windows"] = [
            {"start": "2026-11-24T11:00:00+00:00", "end": "2026-11-24T12:00Z", "multiplier": "2"}
        ]

    schedule = parse_zones(zones_yaml(utc_window))["sf"].schedule
    assert schedule.segments()[0][:2] == (ms("2026-11-24T11:00:00Z"), ms("2026-11-24T12:00:00Z"))


def test_unquoted_yaml_timestamps_are_local_too() -> None:
    data = ZONES_FILE.read_bytes().replace(b'"2026-11-24T11:00"', b"2026-11-24 11:00:00", 1)
    assert yaml.safe_load(data)["zones"]["sf"]["peak_windows"][0]["start"].tzinfo is None
    schedule = parse_zones(data)["sf"].schedule
    assert schedule.segments()[0][0] == ms("2026-11-24T19:00:00Z")


def test_a_window_starting_in_the_spring_forward_gap_maps_forward() -> None:
    def gap_window(sf: dict[str, Any]) -> None:
        sf["peak_windows"] = [
            {"start": "2026-03-08T02:30", "end": "2026-03-08T04:00", "multiplier": "2"}
        ]

    schedule = parse_zones(zones_yaml(gap_window))["sf"].schedule
    assert schedule.segments()[0][0] == ms("2026-03-08T03:30:00-07:00")


def test_overlapping_windows_in_the_file_pay_the_largest_multiplier() -> None:
    sf = load_zones(ZONES_FILE)["sf"]  # 17-20 local x1.5 with 18-19 local x2 inside it
    [part] = price_interval(sf, ms("2026-11-24T17:30:00-08:00"), ms("2026-11-24T19:30:00-08:00"))
    assert part.weighted_ms == Decimal("1.5") * HOUR / 2 + 2 * HOUR + Decimal("1.5") * HOUR / 2
    assert part.amount == Decimal("63.00")  # 210 weighted minutes x 0.30, not 3.5x anywhere


def test_paid_on_defaults_to_delivered_and_cancelled() -> None:
    def no_paid_on(sf: dict[str, Any]) -> None:
        del sf["paid_on"]

    assert parse_zones(zones_yaml(no_paid_on))["sf"].paid_on == DEFAULT_PAID_ON


def test_a_zone_without_peak_windows_pays_base_time() -> None:
    def no_peaks(sf: dict[str, Any]) -> None:
        del sf["peak_windows"]

    sf = parse_zones(zones_yaml(no_peaks))["sf"]
    assert sf.schedule.weighted_ms(0, HOUR) == HOUR


def test_an_unquoted_yaml_float_rate_is_read_from_its_text_not_binary() -> None:
    data = zones_yaml().replace(b"'0.30'", b"0.3")
    assert parse_zones(data)["sf"].rate_per_minute == Decimal("0.3")


def _set(key: str, value: Any) -> Any:
    return lambda sf: sf.__setitem__(key, value)


def _drop(key: str) -> Any:
    return lambda sf: sf.pop(key)


def _window(**changes: Any) -> Any:
    return lambda sf: sf["peak_windows"][0].update(changes)


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        pytest.param(_drop("timezone"), "zones.sf.timezone: required", id="missing timezone"),
        pytest.param(_set("timezone", "Mars/Olympus"), "zones.sf.timezone", id="unknown tz"),
        pytest.param(_set("timezone", "America"), "zones.sf.timezone", id="tz directory"),
        pytest.param(_set("timezone", "../etc/passwd"), "zones.sf.timezone", id="tz path"),
        pytest.param(_drop("currency"), "zones.sf.currency: required", id="missing currency"),
        pytest.param(_set("currency", "XYZ"), "zones.sf.currency", id="unknown currency"),
        pytest.param(_drop("rate_per_minute"), "zones.sf.rate_per_minute", id="missing rate"),
        pytest.param(_set("rate_per_minute", "abc"), "zones.sf.rate_per_minute", id="text rate"),
        pytest.param(_set("rate_per_minute", "-0.30"), "zones.sf.rate_per_minute", id="neg rate"),
        pytest.param(_set("rate_per_minute", "NaN"), "zones.sf.rate_per_minute", id="NaN rate"),
        pytest.param(_set("rate_per_minute", "Infinity"), "zones.sf.rate_per_minute", id="inf"),
        pytest.param(_set("rate_per_minute", True), "zones.sf.rate_per_minute", id="bool rate"),
        pytest.param(_set("rate_per_minute", [1]), "zones.sf.rate_per_minute", id="list rate"),
        pytest.param(
            _set("rate_per_minute", "0.30000000001"),
            "zones.sf.rate_per_minute: at most 10 decimal places",
            id="11 places",
        ),
        pytest.param(_set("paid_on", ["PICKED_UP"]), "zones.sf.paid_on", id="paid on pickup"),
        pytest.param(_set("paid_on", ["ACCEPTED"]), "zones.sf.paid_on", id="paid on accept"),
        pytest.param(
            _set("paid_on", ["DELIVERED", "UNASSIGNED"]), "zones.sf.paid_on", id="paid on unassign"
        ),
        pytest.param(_set("paid_on", ["delivered"]), "zones.sf.paid_on", id="lowercase"),
        pytest.param(_set("paid_on", [{"a": 1}]), "zones.sf.paid_on", id="mapping entry"),
        pytest.param(_set("paid_on", "DELIVERED"), "zones.sf.paid_on", id="not a list"),
        pytest.param(
            _window(end="2026-11-24T10:00"),
            "zones.sf.peak_windows[0]: end is before start",
            id="window end before start",
        ),
        pytest.param(_window(start="noon"), "zones.sf.peak_windows[0].start", id="bad start"),
        pytest.param(_window(end=None), "zones.sf.peak_windows[0].end: required", id="no end"),
        pytest.param(_window(multiplier="x2"), "zones.sf.peak_windows[0].multiplier", id="bad m"),
        pytest.param(_window(multiplier="-1"), "zones.sf.peak_windows[0].multiplier", id="neg m"),
        pytest.param(_set("peak_windows", ["11-13"]), "zones.sf.peak_windows[0]", id="not map"),
        pytest.param(_set("timezone", None), "zones.sf.timezone: required", id="null timezone"),
        pytest.param(
            _set("rate_per_minute", "1000.01"),
            "zones.sf.rate_per_minute: at most 1000",
            id="rate beyond any tariff",
        ),
        pytest.param(
            _window(multiplier="100.5"),
            "zones.sf.peak_windows[0].multiplier: at most 100",
            id="multiplier beyond any tariff",
        ),
    ],
)
def test_each_broken_setting_is_reported_with_its_path(edit: Any, path: str) -> None:
    assert path in error_of(zones_yaml(edit))


def test_a_second_broken_window_is_reported_by_its_index() -> None:
    def second_bad(sf: dict[str, Any]) -> None:
        sf["peak_windows"].append(
            {"start": "2026-11-24T18:00", "end": "2026-11-24T17:00", "multiplier": "2"}
        )

    assert "zones.sf.peak_windows[1]: end is before start" in error_of(zones_yaml(second_bad))


def test_a_zone_that_is_not_a_mapping_is_reported() -> None:
    assert "zones.sf: must be a mapping" in error_of(b"zones:\n  sf: 3\n")


def test_an_empty_zones_section_is_refused() -> None:
    assert "zones: at least one zone is required" in error_of(b"zones: {}\n")


def test_a_document_without_zones_is_refused() -> None:
    assert "zones: must be a mapping" in error_of(b"markets: {}\n")


def test_an_empty_document_is_refused() -> None:
    assert "document: must be a mapping" in error_of(b"")


def test_invalid_yaml_is_reported_with_its_source() -> None:
    assert error_of(b"zones: [unclosed\n").startswith("test.yaml: invalid YAML")


def test_yaml_nested_thousands_deep_is_invalid_not_a_crash() -> None:
    assert error_of(b"zones: " + b"[" * 5000 + b"]" * 5000) == (
        "test.yaml: invalid YAML: nested too deeply"
    )


def aliases(levels: int) -> str:
    """A few hundred bytes of nested YAML aliases: a list that expands to 9**levels strings."""
    anchors = ['&l0 ["xxxxxxxx", "xxxxxxxx", "xxxxxxxx", "xxxxxxxx", "xxxxxxxx", "xxxxxxxx", '
               '"xxxxxxxx", "xxxxxxxx", "xxxxxxxx"]']  # fmt: skip
    anchors += [f"&l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return f"[{', '.join(anchors)}]"


BOMBS = {
    # 9**12 = 282 billion strings from 732 bytes, where a type check would refuse it anyway
    "in a timezone": f"zones:\n  sf:\n    timezone: {aliases(12)}\n    currency: USD\n",
    # 9**7 = 4.8 million strings, where the date-time check would render them all (2.5 s, 66 MB)
    "in a peak window": (
        "zones:\n  sf:\n    timezone: UTC\n    currency: USD\n    rate_per_minute: '0.3'\n"
        f"    peak_windows:\n      - {{start: {aliases(7)}, end: '2026-11-24T13:00', "
        "multiplier: '2'}\n"
    ),
}


def merge_keys(levels: int) -> str:
    """Each mapping merges the one before it twice: YAML builds 2**levels entries."""
    lines = ["a0: &a0 {k: 1}"]
    lines += [f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}]}}" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\nzones: *a0\n"


BOMBS = {
    **BOMBS,
    # 2**24 merged entries from 850 bytes: 29 s and 419 MB inside yaml.safe_load, before any
    # check on the built values could run
    "in merge keys": merge_keys(24),
    # an alias inside its own anchor expands forever
    "recursive": "zones: &z {sf: *z}\n",
}


@pytest.mark.parametrize("document", BOMBS.values(), ids=BOMBS.keys())
def test_nested_yaml_aliases_are_refused_before_anything_expands_them(document: str) -> None:
    started = time.process_time()
    reason = error_of(document.encode())
    assert time.process_time() - started < 2.0  # refused from the node graph, in milliseconds

    assert len(document) < 1000
    assert "more than 100000 values once its YAML aliases are expanded" in reason
    assert len(reason) < 200


def test_aliases_within_the_limit_still_share_settings_between_zones() -> None:
    shared = b"""zones:
  sf: &base
    timezone: America/Los_Angeles
    currency: USD
    rate_per_minute: "0.30"
  oakland: *base
"""
    zones = parse_zones(shared)

    assert zones["oakland"].rate_per_minute == zones["sf"].rate_per_minute == Decimal("0.30")


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (
            lambda sf: sf.update(timezone=["Europe/Berlin"] * 1000),
            "zones.sf.timezone: must be text",
        ),
        (lambda sf: sf.update(currency={"code": "USD"}), "zones.sf.currency: must be text"),
        (lambda sf: sf.update(timezone="Mars/" + "x" * 100_000), "unknown time zone 'Mars/xx"),
        (lambda sf: sf.update(rate_per_minute="9" * 100_000 + "x"), "not a decimal: '9999"),
    ],
)
def test_a_reason_shows_a_bounded_part_of_an_untrusted_value(edit: Any, path: str) -> None:
    reason = error_of(zones_yaml(edit))

    assert path in reason
    assert len(reason) < 200


def test_the_largest_rate_and_multiplier_still_load() -> None:
    def edit(sf: dict[str, Any]) -> None:
        sf.update(rate_per_minute="1000")
        sf["peak_windows"][0].update(multiplier="100")

    zones = parse_zones(zones_yaml(edit))

    assert zones["sf"].rate_per_minute == Decimal(1000)
