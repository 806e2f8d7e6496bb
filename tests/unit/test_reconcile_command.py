"""``driverpay reconcile`` against an output folder that was paid with a wrong peak rule."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from driverpay.generate import GenConfig, generate
from driverpay.recompute import recompute
from driverpay.reconcile import reconcile as run_reconcile
from tests.recompute.helpers import archive_events
from udfs.money import from_minor
from udfs.zones import load_zones

ROOT = Path(__file__).resolve().parents[2]
ZONES = ROOT / "config" / "zones.yaml"
DRIVERPAY = str(Path(sys.executable).parent / "driverpay")


@pytest.fixture(scope="module")
def overpaid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """An archive, and a "stream" folder whose sf 18:00-19:00 window stacked 1.5 + 2 = 3.5."""
    tmp = tmp_path_factory.mktemp("reconcile")
    zones = load_zones(ZONES)
    generate(GenConfig(orders=600, drivers=30), zones, tmp / "events.jsonl", tmp / "truth.json")
    archive_events(tmp / "events.jsonl", tmp / "archive", zones)
    buggy = ZONES.read_text().replace(
        '{start: "2026-11-24T18:00", end: "2026-11-24T19:00", multiplier: "2"}',
        '{start: "2026-11-24T18:00", end: "2026-11-24T19:00", multiplier: "3.5"}',
    )
    assert buggy != ZONES.read_text()
    stream = tmp / "stream"
    recompute(tmp / "archive", date(2026, 11, 24), buggy.encode(), stream, workers=1)
    return tmp / "archive", stream, json.loads((tmp / "truth.json").read_text())


@pytest.fixture
def fresh(overpaid: tuple[Path, Path, dict], tmp_path: Path) -> tuple[Path, Path, dict]:
    """The overpaid stream, copied for one test: ``--apply`` corrects the copy it is given."""
    archive, stream, truth = overpaid
    copy = tmp_path / "stream"
    shutil.copytree(stream, copy)
    return archive, copy, truth


def reconcile(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DRIVERPAY_ZONES": str(ZONES), "COLUMNS": "200"}
    return subprocess.run(
        [DRIVERPAY, "reconcile", *args], capture_output=True, text=True, env=env, check=False
    )


def test_reconcile_reports_every_overpaid_driver_day_and_corrects_it_once(fresh):
    archive, stream, truth = fresh
    args = ["--date", "2026-11-24", "--stream", str(stream), "--archive", str(archive), "--json"]
    first = reconcile(*args)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    served = {
        r["driver_id"]: r["total_cents"]
        for r in map(json.loads, (stream / "driver_daily_pay.jsonl").read_text().splitlines())
    }
    right = {
        r["driver_id"]: round(float(r["total"]) * 100)
        for r in truth["daily"]
        if r["pay_date"] == "2026-11-24" and r["currency"] == "USD"
    }
    wrong = {d for d in right if served[d] != right[d]}
    assert wrong, "the stacked window overpaid someone"
    assert {d["driver_id"] for d in report["deltas"]} == wrong
    assert report["drivers_affected"] == len(wrong)
    assert report["delta_minor"] == sum(right[d] - served[d] for d in wrong) < 0
    for d in report["deltas"]:
        assert (d["streamed_minor"], d["recomputed_minor"]) == (
            served[d["driver_id"]],
            right[d["driver_id"]],
        )

    applied = reconcile(*args, "--apply")
    assert applied.returncode == 0, applied.stderr
    issued = [json.loads(x) for x in (stream / "pay_corrections.jsonl").read_text().splitlines()]
    assert {x["kind"] for x in issued} == {"REVERSAL", "ADJUSTMENT"}
    assert sum(x["amount_minor"] for x in issued) == report["delta_minor"]
    assert all(x["reason"].startswith("reconcile 2026-11-24@") for x in issued)

    again = json.loads(reconcile(*args, "--apply").stdout)
    assert (again["drivers_affected"], again["delta_minor"], again["deltas"]) == (0, 0, [])
    assert len((stream / "pay_corrections.jsonl").read_text().splitlines()) == len(issued)
    prom = (stream / "reconcile" / "2026-11-24" / "reconcile.prom").read_text()
    assert 'driverpay_reconcile_drivers_affected{date="2026-11-24",zone="all"} 0' in prom


def test_a_zone_without_the_bug_has_no_deltas(fresh):
    """The stream overpays drivers in sf (the other tests find them), none in tokyo."""
    archive, stream, _ = fresh
    run = reconcile(
        "--date", "2026-11-24", "--zone", "tokyo", "--stream", str(stream),
        "--archive", str(archive), "--json", "--run-dir", str(stream.parent / "tokyo-run"),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert (report["drivers_affected"], report["deltas"]) == (0, [])
    assert report["driver_days"] > 0


def test_the_table_names_each_driver_with_the_delta(fresh, tmp_path):
    archive, stream, _ = fresh
    common = ["--date", "2026-11-24", "--stream", str(stream), "--archive", str(archive)]
    found = reconcile(*common, "--json", "--run-dir", str(tmp_path / "json"))
    deltas = json.loads(found.stdout)["deltas"]
    assert deltas, "the stacked window overpaid someone"
    run = reconcile(*common, "--run-dir", str(tmp_path / "table"))
    assert run.returncode == 0, run.stderr
    title = "".join(run.stdout.split("┏")[0].split())  # it wraps at the table's width
    assert title == f"reconcile2026-11-24({stream}):{len(deltas)}deltas"
    cells = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in run.stdout.splitlines()
        if line.startswith("│")
    ]
    shown = {row[0]: row[-1] for row in cells if row and row[0] != "driver"}
    assert shown == {
        d["driver_id"]: f"{from_minor(d['recomputed_minor'] - d['streamed_minor'], cur):+} {cur}"
        for d in deltas
        if (cur := d["currency"])
    }
    summary = json.loads((tmp_path / "table" / "reconcile-summary.json").read_text())
    assert summary["date"] == "2026-11-24"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "yesterday"], "error: --date: not a date like 2026-11-24: 'yesterday'"),
        (["--date", "2026-11-24", "--stream", "/nonexistent"], "error: --stream: no such folder"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message, tmp_path):
    run = reconcile(*args, "--archive", str(tmp_path))
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1
    assert run.stderr.startswith(message)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (ZONES.read_bytes(), "line 1: not a zones version record"),  # a zones YAML, not records
        (b'{"version": "v2"}\n\xff\xfe\n', "error: --zones-versions: 'utf-8' codec"),
    ],
)
def test_a_versions_file_that_holds_no_version_records_is_refused(
    overpaid, tmp_path, content, message
):
    """Skipping such a file line by line would price the day without the stream's versions."""
    archive, stream, _ = overpaid
    versions = tmp_path / "versions.jsonl"
    versions.write_bytes(content)
    run = reconcile(
        "--date", "2026-11-24", "--stream", str(stream), "--archive", str(archive),
        "--zones-versions", str(versions), "--run-dir", str(tmp_path / "run"),
    )  # fmt: skip
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1
    assert message in run.stderr


# Driver ids whose code point order is not their order in any natural language, nor in UTF-16
# (the truck is outside the BMP; the fullwidth tilde U+FF5E is inside it, above the
# surrogates). The recompute's ledger comes sorted by DuckDB, the streamed side by Python, and
# reconcile merges the two.
ODD_DRIVERS = ("Zed", "ab", "Ärger", "ß", "d|x", "\U0001f69a", "\uff5e", "a\u0301")


def test_ids_in_any_order_a_language_might_sort_them_still_meet_their_driver_day(
    tmp_path: Path,
) -> None:
    zones = load_zones(ZONES)
    generate(GenConfig(orders=300, drivers=8), zones, tmp_path / "gen.jsonl", tmp_path / "t.json")
    events = (tmp_path / "gen.jsonl").read_text(encoding="utf-8")
    for i, name in enumerate(ODD_DRIVERS):
        events = events.replace(f'"d{i:05d}"', json.dumps(name))
    (tmp_path / "events.jsonl").write_text(events, encoding="utf-8")
    archive_events(tmp_path / "events.jsonl", tmp_path / "archive", zones)
    buggy = re.sub(r'rate_per_minute: "([\d.]+)"', r'rate_per_minute: "\g<1>1"', ZONES.read_text())
    assert buggy.count('1"') >= 3  # every zone overpays a little: every driver-day differs
    stream = tmp_path / "stream"
    recompute(tmp_path / "archive", date(2026, 11, 24), buggy.encode(), stream, workers=1)

    found = run_reconcile(date(2026, 11, 24), ZONES.read_bytes(), tmp_path / "archive",
                          tmp_path / "r1", stream=stream, apply=True)  # fmt: skip
    again = run_reconcile(date(2026, 11, 24), ZONES.read_bytes(), tmp_path / "archive",
                          tmp_path / "r2", stream=stream)  # fmt: skip

    assert {d["driver_id"] for d in found.deltas} == set(ODD_DRIVERS)  # each one's day differs
    assert found.driver_days == len(ODD_DRIVERS)
    assert found.applied == len(found.corrections) > 0
    assert again.deltas == []
