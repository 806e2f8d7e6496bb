"""Bad input to a command is one line on stderr and exit 2; an unreachable service is exit 1.

Never a traceback (docs/contracts.md §4). ``run`` and ``demo`` must refuse a bad zones file
before they start Flink: in these tests they never get further, so no Flink starts.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DRIVERPAY = str(ROOT / ".venv" / "bin" / "driverpay")
ZONES = ROOT / "config" / "zones.yaml"
MISSING = "/nonexistent/driverpay-test"
NO_KAFKA = "127.0.0.1:1"  # nothing listens on port 1: connections are refused at once
NOT_A_MONTH = "2026-13-01"
UNREACHABLE_BOUND_S = 30  # produce gives up on Kafka after 10 s; the rest is start-up


def driverpay(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command run from the checkout (where the default outputs would land: pass paths)."""
    return subprocess.run(
        [DRIVERPAY, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DRIVERPAY_ZONES": str(ZONES), "COLUMNS": "200", **env},
        cwd=ROOT,
        check=False,
    )


def outputs(folder: Path) -> tuple[str, ...]:
    """``generate``'s two outputs, both in ``folder``."""
    return ("--output", str(folder / "e.jsonl"), "--truth", str(folder / "truth.json"))


def the_one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The message on stderr, checked to be one line (blank lines aside) and no traceback."""
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text('{"event_id": "e-1"}\n')
    return path


@pytest.fixture
def not_zones(tmp_path: Path) -> Path:
    path = tmp_path / "zones.yaml"
    path.write_text("zones: [sf, 'unclosed\n")
    return path


def test_run_with_a_missing_zones_file_exits_2_naming_it(events: Path, tmp_path: Path) -> None:
    result = driverpay(
        "run", "--input", str(events), "--output", str(tmp_path / "out"), DRIVERPAY_ZONES=MISSING
    )
    assert result.returncode == 2
    assert (
        the_one_error_line(result)
        == f"error: DRIVERPAY_ZONES: No such file or directory: {MISSING}"
    )


def test_run_with_a_file_that_is_not_zones_yaml_exits_2_naming_it(
    events: Path, not_zones: Path, tmp_path: Path
) -> None:
    result = driverpay(
        "run", "--input", str(events), "--output", str(tmp_path / "out"),
        DRIVERPAY_ZONES=str(not_zones),
    )  # fmt: skip
    assert result.returncode == 2
    message = the_one_error_line(result)
    assert message.startswith(f"error: DRIVERPAY_ZONES: {not_zones}: invalid YAML")


def test_demo_with_a_file_that_is_not_zones_yaml_exits_2(not_zones: Path, tmp_path: Path) -> None:
    result = driverpay("demo", "--output", str(tmp_path / "demo"), DRIVERPAY_ZONES=str(not_zones))
    assert result.returncode == 2
    assert the_one_error_line(result).startswith(f"error: DRIVERPAY_ZONES: {not_zones}:")
    assert not (tmp_path / "demo").exists()


def test_generate_for_a_day_that_is_not_a_date_exits_2_naming_day(tmp_path: Path) -> None:
    result = driverpay("generate", "--day", NOT_A_MONTH, *outputs(tmp_path))
    assert result.returncode == 2
    assert (
        the_one_error_line(result) == f"error: --day: not a date like 2026-11-24: '{NOT_A_MONTH}'"
    )


@pytest.mark.parametrize("other_iso_form", ["20261124", "2026-W48-2", "2026-328"])
def test_a_date_in_another_iso_form_is_refused_as_every_output_writes_yyyy_mm_dd(
    tmp_path: Path, other_iso_form: str
) -> None:
    result = driverpay("generate", "--day", other_iso_form, *outputs(tmp_path))
    assert result.returncode == 2
    assert the_one_error_line(result) == (
        f"error: --day: not a date like 2026-11-24: '{other_iso_form}'"
    )
    assert not (tmp_path / "e.jsonl").exists()


def test_generate_with_a_missing_zones_file_exits_2(tmp_path: Path) -> None:
    result = driverpay("generate", *outputs(tmp_path), DRIVERPAY_ZONES=MISSING)
    assert result.returncode == 2
    assert the_one_error_line(result).startswith("error: DRIVERPAY_ZONES: No such file")


def test_generate_into_a_folder_that_does_not_exist_exits_2_naming_the_file(
    tmp_path: Path,
) -> None:
    output = f"{MISSING}/e.jsonl"
    result = driverpay(
        "generate", "--orders", "5", "--output", output, "--truth", str(tmp_path / "t.json")
    )
    assert result.returncode == 2
    assert the_one_error_line(result) == f"error: {output}: No such file or directory"


def test_generate_refuses_a_rate_that_is_not_a_probability(tmp_path: Path) -> None:
    result = driverpay("generate", "--orders", "5", "--late-rate", "2", *outputs(tmp_path))
    assert result.returncode == 2
    assert "--late-rate" in result.stderr
    assert not (tmp_path / "e.jsonl").exists()


def test_produce_to_an_unreachable_kafka_exits_1_in_bounded_time(events: Path) -> None:
    started = time.monotonic()
    result = driverpay("produce", str(events), DRIVERPAY_KAFKA=NO_KAFKA)
    assert time.monotonic() - started < UNREACHABLE_BOUND_S
    assert result.returncode == 1
    message = the_one_error_line(result)
    assert message.startswith(f"error: Kafka at {NO_KAFKA}: KafkaException")


@pytest.mark.parametrize(
    "command",
    [
        ("zones", "publish", str(ZONES)),
        ("reconcile", "--date", "2026-11-24", "--archive", MISSING),
        ("recompute", "--date", "2026-11-24", "--archive", MISSING, "--zones-versions", "kafka"),
    ],
    ids=["zones publish", "reconcile", "recompute"],
)
def test_a_command_reading_the_zones_topic_from_an_unreachable_kafka_says_so_in_one_line(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    """Not the Kafka client's log lines first, for the 30 s its consumer would wait."""
    started = time.monotonic()
    output = ("--output", str(tmp_path / "out")) if command[0] == "recompute" else ()
    result = driverpay(*command, *output, DRIVERPAY_KAFKA=NO_KAFKA)
    assert time.monotonic() - started < UNREACHABLE_BOUND_S
    assert result.returncode == 1
    assert "KafkaException" in the_one_error_line(result)
