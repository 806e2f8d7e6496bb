"""Reference data in motion on the real stack: a corrected zones version, no redeploy.

The job runs with the shipped zones. Halfway through the day (before any event of 16:30 or
later in San Francisco is sent) a corrected version — sf's rate 0.30 -> 0.40 per minute,
effective 17:00 local — is published with ``driverpay zones publish`` to the ``zones`` topic.
The running job picks it up from its broadcast input: every minute worked from 17:00 on is
paid under the new ``zones_version`` (that of an interval begun before 17:00 in a line of its
own), directly or re-priced by REVERSAL + ADJUSTMENT if it was priced before the version
arrived, and every minute before keeps the old one,
totals equal the truth under both versions to the cent, and a reconcile that reads the same
versions from the topic finds nothing to correct.
"""

from __future__ import annotations

import os
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from driverpay.generate import GenConfig, generate
from driverpay.produce import produce, read_lines
from driverpay.reconcile import reconcile
from driverpay.zones_topic import prepare, read_records
from tests.hostile import corpus as hostile
from tests.stack import stack
from tests.stack.test_corrections import archived, quiet_lines
from tests.stack.test_deployment import pg_totals
from udfs.events import MalformedEventError, parse_event
from udfs.ledger import line_id
from udfs.timefmt import parse_rfc3339_ms
from udfs.zones import load_zones
from udfs.zones_history import ZonesHistory

pytestmark = pytest.mark.stack
DAY = date(2026, 11, 24)
ZONES_FILE = stack.ROOT / "config" / "zones.yaml"
SF_FIVE_PM = parse_rfc3339_ms("2026-11-24T17:00:00-08:00")
SF_HALF_FOUR = parse_rfc3339_ms("2026-11-24T16:30:00-08:00")
CONFIG = GenConfig(seed=29, orders=800, drivers=40)


def corrected_sf(tmp_path: Path) -> Path:
    doc = yaml.safe_load(ZONES_FILE.read_text())
    doc["zones"] = {"sf": {**doc["zones"]["sf"], "rate_per_minute": "0.40"}}
    path = tmp_path / "zones-sf-0.40.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def event_ms(line: bytes, zones: object) -> int:
    try:
        return parse_event(line, zones).time_ms  # type: ignore[arg-type]
    except MalformedEventError:
        return 0


def today(totals: dict[tuple[str, str], object]) -> dict[tuple[str, str], object]:
    return {k: v for k, v in totals.items() if k[1] == DAY.isoformat() and k[0] != "zz-filler"}


def test_a_corrected_version_published_while_the_job_runs_prices_from_its_effective_time(
    real_stack: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = load_zones(ZONES_FILE)
    fixed_file = corrected_sf(tmp_path)
    v2 = prepare(fixed_file.read_bytes(), SF_FIVE_PM, [v1])  # what publish will send
    truth = generate(CONFIG, ZonesHistory([v1, v2]), tmp_path / "events.jsonl", tmp_path / "t.json")
    old = generate(CONFIG, v1, tmp_path / "same.jsonl", tmp_path / "t1.json")
    lines = read_lines(tmp_path / "events.jsonl")
    expected = today({(d, p): (Decimal(v[0]), v[2]) for (d, p), v in truth.daily.items()})
    assert expected != today({(d, p): (Decimal(v[0]), v[2]) for (d, p), v in old.daily.items()})
    archive = tmp_path / "archive"
    monkeypatch.setenv("DRIVERPAY_ARCHIVE", str(archive))
    monkeypatch.setenv("DRIVERPAY_ZONES", str(ZONES_FILE))

    job = stack.fresh_start("driverpay-zones")
    cut = next(i for i, line in enumerate(lines) if event_ms(line, v1) >= SF_HALF_FOUR)
    produce(lines[:cut], stack.KAFKA)
    stack.wait_for(lambda: stack.completed_checkpoints(job) >= 1, 120, "a checkpoint")
    published = subprocess.run(
        [
            str(stack.ROOT / ".venv" / "bin" / "driverpay"),
            "zones",
            "publish",
            str(fixed_file),
            "--effective",
            "2026-11-24T17:00:00-08:00",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DRIVERPAY_KAFKA": stack.KAFKA},
        check=True,
    )
    assert published.stdout.strip() == v2.version
    produce(lines[cut:] + hostile.fillers(200, "2026-11-25", "02:00"), stack.KAFKA)

    stack.wait_for(
        lambda: today(pg_totals()) == expected, 300, "PostgreSQL equal to the truth", every=3
    )
    stack.wait_for(quiet_lines(), 120, "the ledger to settle", every=3)

    ledger = stack.committed_records("pay-ledger", truth.counts["pay_lines"], timeout=180)
    reversed_ids = {r["line_id"] for r in ledger if r["kind"] == "REVERSAL"}
    effect = [
        r
        for r in ledger
        if r["kind"] != "REVERSAL"
        and line_id("REVERSAL", r["line_id"]) not in reversed_ids
        and r["pay_date"] == DAY.isoformat()
        and r["driver_id"] != "zz-filler"
    ]
    sf_after = {
        r["zones_version"]
        for r in effect
        if r["zone"] == "sf" and parse_rfc3339_ms(r["start"]) >= SF_FIVE_PM
    }
    before = {
        r["zones_version"]
        for r in effect
        if r["zone"] != "sf" or parse_rfc3339_ms(r["start"]) < SF_FIVE_PM
    }
    assert sf_after == {v2.version}  # every minute from 17:00, whenever its interval began
    assert before == {v1.version}  # work before the effective time: untouched, exact

    valid = truth.counts["lines_written"] - truth.counts["malformed"]
    stack.wait_for(lambda: archived(archive) >= valid, 120, "the archive to commit", every=3)
    records = tuple(r.decode() for r in read_records(stack.KAFKA))
    report = reconcile(
        DAY,
        ZONES_FILE.read_bytes(),
        archive,
        tmp_path / "reconcile",
        dsn=stack.PG_DSN,
        version_records=records,
    )
    assert report.deltas == []
    assert stack.flink(f"/jobs/{job}")["state"] == "RUNNING"
