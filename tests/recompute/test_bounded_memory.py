"""A recompute sorts a day far larger than its memory cap, and still pays every cent.

The day: 200,000 orders, ~660k valid events, ~98 MB of raw JSON lines. The cap: DuckDB gets
24 MB, and the whole process gets its address space after imports + 192 MB
(``RLIMIT_AS``; one malloc arena, so per-thread arena reservations do not eat the cap).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from driverpay.check import compare, daily_from_output, daily_from_truth
from driverpay.generate import GenConfig, generate
from tests.recompute.helpers import archive_events
from udfs.zones import load_zones

ROOT = Path(__file__).resolve().parents[2]
ZONES = ROOT / "config" / "zones.yaml"
HEADROOM_MB = 192
DUCKDB_MB = 24

CHILD = """
import json, re, resource, sys
from datetime import date
from pathlib import Path
import duckdb, pyarrow.parquet
from driverpay.recompute import recompute
duckdb.connect().execute("SELECT 1").fetchall()  # load DuckDB before measuring the baseline
def status(key):
    text = Path("/proc/self/status").read_text()
    return int(re.search(key + r":\\s+(\\d+)", text).group(1)) * 1024
base = status("VmSize")
resource.setrlimit(resource.RLIMIT_AS, (base + {headroom} * 2**20,) * 2)
summary = recompute(Path(sys.argv[1]), date(2026, 11, 24), Path(sys.argv[2]).read_bytes(),
                    Path(sys.argv[3]), workers=1, memory_limit="{duckdb}MB")
print(json.dumps({{"events": summary.events, "base": base, "peak": status("VmPeak"),
                  "rss": status("VmHWM")}}))
"""


def test_a_day_several_times_the_memory_cap_is_recomputed_exactly(tmp_path):
    zones = load_zones(ZONES)
    events, truth_file = tmp_path / "events.jsonl", tmp_path / "truth.json"
    generate(GenConfig(orders=200_000, drivers=5_000), zones, events, truth_file)
    archived = archive_events(events, tmp_path / "archive", zones)
    out = tmp_path / "out"
    child = CHILD.format(headroom=HEADROOM_MB, duckdb=DUCKDB_MB)
    run = subprocess.run(
        [sys.executable, "-c", child, str(tmp_path / "archive"), str(ZONES), str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "MALLOC_ARENA_MAX": "1"},
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    stats = json.loads(run.stdout.splitlines()[-1])
    raw_mb = events.stat().st_size / 2**20
    assert raw_mb > 3 * DUCKDB_MB, "the raw day must dwarf DuckDB's share"
    assert stats["events"] == archived > 600_000
    assert stats["peak"] - stats["base"] <= HEADROOM_MB * 2**20
    truth = json.loads(truth_file.read_text())
    expected = {k: v for k, v in daily_from_truth(truth).items() if k[1] == "2026-11-24"}
    rows = [json.loads(x) for x in (out / "driver_daily_pay.jsonl").read_text().splitlines()]
    result = compare(expected, daily_from_output(rows))
    assert result.ok, result.mismatched[:3]
    assert result.matched == 5_000
    print(  # shown with -s: the measured figures for the report
        f"raw {raw_mb:.0f} MB JSONL, {archived} events; cap DuckDB {DUCKDB_MB} MB, "
        f"address space +{HEADROOM_MB} MB; used +{(stats['peak'] - stats['base']) / 2**20:.0f} MB "
        f"address space, peak RSS {stats['rss'] / 2**20:.0f} MB"
    )
