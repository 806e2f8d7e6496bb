"""The pure-core replay the benchmark times does the job's Python work for every line."""

from pathlib import Path

from driverpay.bench_core import replay
from udfs.zones import load_zones

ROOT = Path(__file__).resolve().parents[2]


def event(event_id: str, kind: str, at: str) -> str:
    fields = f'"order_id":"o1","driver_id":"d1","type":"{kind}","zone":"tokyo"'
    return f'{{"event_id":"{event_id}",{fields},"event_time":"2026-11-24T{at}Z"}}'


ACCEPTED_AT_NINE = event("e1", "ACCEPTED", "09:00:00")
DELIVERED_AT_TEN = event("e2", "DELIVERED", "10:00:00")


def test_a_delivered_order_gives_one_line_and_one_total_and_bad_bytes_count_as_malformed(
    tmp_path: Path,
) -> None:
    events = tmp_path / "events.jsonl"
    lines = [ACCEPTED_AT_NINE, "not json", DELIVERED_AT_TEN, DELIVERED_AT_TEN]
    events.write_text("\n".join(lines) + "\n")
    result = replay(events, load_zones(ROOT / "config" / "zones.yaml"))
    assert result["events"] == 4
    assert result["malformed"] == 1
    assert result["lines"] == 1  # the duplicate delivery pays nothing
    assert result["totals"] == 1
    assert result["seconds"] > 0
