"""``driverpay chart`` draws a driver's day from an output folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from driverpay.generate import GenConfig, generate
from driverpay.recompute import recompute
from tests.recompute.helpers import archive_events
from udfs.zones import load_zones

ROOT = Path(__file__).resolve().parents[2]
ZONES = ROOT / "config" / "zones.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def chart(*args: str) -> subprocess.CompletedProcess[str]:
    driverpay = str(Path(sys.executable).parent / "driverpay")
    env = {**os.environ, "DRIVERPAY_ZONES": str(ZONES)}
    return subprocess.run(
        [driverpay, "chart", *args], capture_output=True, text=True, env=env, check=False
    )


def test_a_drivers_day_with_a_correction_renders_as_a_png(tmp_path):
    zones = load_zones(ZONES)
    generate(GenConfig(orders=300, drivers=6), zones, tmp_path / "e.jsonl", tmp_path / "t.json")
    archive_events(tmp_path / "e.jsonl", tmp_path / "archive", zones)
    out = tmp_path / "run"
    recompute(tmp_path / "archive", date(2026, 11, 24), ZONES.read_bytes(), out, workers=1)
    ledger = [json.loads(x) for x in (out / "pay_ledger.jsonl").read_text().splitlines()]
    sf = next(r for r in ledger if r["zone"] == "sf")
    reversal = {**sf, "line_id": "r-1", "kind": "REVERSAL", "amount": "-" + sf["amount"]}
    reversal["amount_minor"] = -sf["amount_minor"]
    (out / "pay_corrections.jsonl").write_text(json.dumps(reversal) + "\n")
    png = tmp_path / "day.png"
    run = chart("--driver", sf["driver_id"], "--date", "2026-11-24", "--stream", str(out),
                "--output", str(png))  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert png.stat().st_size > 30_000
    mine = [r for r in ledger if r["driver_id"] == sf["driver_id"]]
    cents = sum(r["amount_minor"] for r in mine) - sf["amount_minor"]
    said = " ".join(run.stderr.split())  # rich wraps long lines
    assert f"{len(mine) + 1} lines, total {cents // 100}.{cents % 100:02d} USD" in said


def test_a_driver_without_lines_is_bad_input(tmp_path):
    (tmp_path / "pay_ledger.jsonl").write_text("")
    run = chart("--driver", "nobody", "--date", "2026-11-24", "--stream", str(tmp_path),
                "--output", str(tmp_path / "x.png"))  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.strip() == "error: no pay lines for nobody on 2026-11-24"
