"""``driverpay zones publish`` (contracts §4): what is refused before anything reaches Kafka."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from driverpay import topics
from driverpay.zones_topic import prepare
from udfs.timefmt import parse_rfc3339_ms as ms
from udfs.zones import ZonesError, parse_zones

ROOT = Path(__file__).resolve().parents[2]
FIVE_PM = ms("2026-11-24T17:00:00-08:00")
# nothing listens here: a command that got past validation would fail with exit 1, not 2
NO_KAFKA = {"DRIVERPAY_KAFKA": "127.0.0.1:9"}


def sf(**change: str) -> bytes:
    spec = {"timezone": "America/Los_Angeles", "currency": "USD", "rate_per_minute": "0.30"}
    return yaml.safe_dump({"zones": {"sf": {**spec, **change}}}).encode()


BASE = parse_zones(sf())


def publish(path: Path, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "driverpay"), "zones", "publish", str(path), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **NO_KAFKA, **env},
        cwd=ROOT,
    )


def test_republishing_a_known_version_is_the_same_version() -> None:
    assert prepare(BASE.source, None, [BASE]).version == BASE.version


def test_a_correction_with_an_effective_time_is_a_new_version() -> None:
    corrected = prepare(sf(rate_per_minute="0.35"), FIVE_PM, [BASE])
    assert corrected.effective_ms == FIVE_PM
    assert corrected.version != BASE.version


def test_a_second_version_at_the_same_effective_time_is_refused() -> None:
    with pytest.raises(ZonesError, match="effective: since forever is already"):
        prepare(sf(rate_per_minute="0.35"), None, [BASE])


def test_a_version_moving_a_zone_to_another_timezone_is_refused_naming_the_zone() -> None:
    with pytest.raises(ZonesError, match=r"zones\.sf\.timezone: .* needs a fresh start"):
        prepare(sf(timezone="Europe/Paris"), FIVE_PM, [BASE])


@pytest.mark.parametrize(
    ("content", "extra", "field"),
    [
        (sf(rate_per_minute="-1"), [], "zones.sf.rate_per_minute"),
        (b"zones: [unclosed\n", [], "invalid YAML"),
        (sf(), ["--effective", "2026-11-24 17:00"], "--effective"),
        (
            sf() + b'effective: "2026-11-24T17:00:00Z"\n',
            ["--effective", "2026-11-25T00:00:00Z"],
            "effective:",
        ),
    ],
    ids=["negative rate", "bad yaml", "no offset", "effective twice"],
)
def test_invalid_input_exits_2_with_one_line_naming_the_field(
    tmp_path: Path, content: bytes, extra: list[str], field: str
) -> None:
    path = tmp_path / "zones.yaml"
    path.write_bytes(content)
    done = publish(path, *extra)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert field in done.stderr


def test_a_correction_without_an_effective_time_is_refused_against_the_jobs_own_file(
    tmp_path: Path,
) -> None:
    """The job's file (DRIVERPAY_ZONES) is "since forever"; an empty topic must not hide that.

    Before, publish checked the topic alone: on a fresh stack it printed the version and the
    job dead-lettered it, so the correction was never priced.
    """
    job_file, fix = tmp_path / "job.yaml", tmp_path / "fix.yaml"
    job_file.write_bytes(sf())
    fix.write_bytes(sf(rate_per_minute="0.35"))
    done = publish(fix, DRIVERPAY_ZONES=str(job_file))
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert f"effective: since forever is already the effective time of version {BASE.version}" in (
        done.stderr
    )
    assert "--effective" in done.stderr


def test_the_same_correction_with_an_effective_time_passes_validation(tmp_path: Path) -> None:
    job_file, fix = tmp_path / "job.yaml", tmp_path / "fix.yaml"
    job_file.write_bytes(sf())
    fix.write_bytes(sf(rate_per_minute="0.35"))
    done = publish(fix, "--effective", "2026-11-24T17:00:00-08:00", DRIVERPAY_ZONES=str(job_file))
    assert done.returncode == 1, done.stderr  # validated; then no Kafka at 127.0.0.1:9
    assert "error: " in done.stderr


def test_a_timezone_change_against_the_jobs_own_file_is_refused_before_kafka(
    tmp_path: Path,
) -> None:
    job_file, fix = tmp_path / "job.yaml", tmp_path / "fix.yaml"
    job_file.write_bytes(sf())
    fix.write_bytes(sf(timezone="Europe/Paris"))
    done = publish(fix, "--effective", "2026-11-24T17:00:00-08:00", DRIVERPAY_ZONES=str(job_file))
    assert done.returncode == 2, done.stderr
    assert "zones.sf.timezone" in done.stderr


def test_the_stack_script_creates_every_topic_with_its_partitions() -> None:
    script = (ROOT / "scripts" / "stack" / "topics.sh").read_text()
    declared = script.split("TOPICS=(")[1].split(")")[0]
    listed = {name: int(parts) for name, parts in re.findall(r"([a-z-]+):(\d+)", declared)}
    assert listed == topics.PARTITIONS
    assert '[zones]="--config cleanup.policy=compact"' in script
