"""``make demo``: generate a messy day, run the real job embedded, and check it against truth."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table

from driverpay.check import compare, daily_from_output, daily_from_truth
from driverpay.recompute import read_jsonl
from jobs.embedded import RunResult
from udfs.zones import Zones


def summarize(console: Console, result: RunResult, truth_path: Path, top: int = 10) -> bool:
    """Print per-driver pay, the mess caught, throughput and the truth check; True if equal."""
    truth = json.loads(truth_path.read_text())
    daily = result.records.get("driver_daily_pay", [])
    latest = {(r["driver_id"], r["pay_date"]): r for r in sorted(daily, key=lambda r: r["version"])}
    per_driver: dict[str, list[str]] = {}
    for (driver, day), row in sorted(latest.items()):
        per_driver.setdefault(driver, []).append(f"{day}: {row['total']} {row['currency']}")
    table = Table(title=f"Daily pay (first {top} of {len(per_driver)} drivers)")
    table.add_column("driver")
    table.add_column("pay per local day")
    for driver in list(per_driver)[:top]:
        table.add_row(driver, "; ".join(per_driver[driver]))
    console.print(table)
    _print_mess(console, result, truth["counts"])
    comparison = compare(daily_from_truth(truth), daily_from_output(list(latest.values())))
    rate = result.input_lines / result.seconds if result.seconds else 0.0
    console.print(
        f"throughput: {result.input_lines:,} events in {result.seconds:.1f} s "
        f"= {rate:,.0f} events/s (embedded, parallelism as run, including job start-up)"
    )
    total = sum(
        (Decimal(r["total"]) for r in latest.values() if r["currency"] == "USD"), Decimal(0)
    )
    if comparison.ok:
        console.print(
            f"[green]CHECK PASSED[/]: {comparison.matched} driver-days equal the generator's "
            f"truth to the cent (USD total {total})"
        )
    else:
        console.print(f"[red]CHECK FAILED[/]: {len(comparison.mismatched)} driver-days differ")
        for key, want, got in comparison.mismatched[:10]:
            console.print(f"  {key}: expected {want}, got {got}")
    return comparison.ok


def _print_mess(console: Console, result: RunResult, injected: dict[str, int]) -> None:
    audit = Counter(r["kind"] for r in result.records.get("audit", []))
    quarantine = Counter(r["kind"] for r in result.records.get("quarantine", []))
    ledger = Counter(r["kind"] for r in result.records.get("pay_ledger", []))
    table = Table(title="Messiness injected vs caught")
    for column in ("kind", "injected", "caught by the job"):
        table.add_column(column)
    rows = [
        (
            "malformed -> dead letter",
            injected.get("malformed", 0),
            len(result.records.get("dead_letter", [])),
        ),
        ("duplicates -> dropped", injected.get("duplicates", 0), audit["DUPLICATE"]),
        ("late (behind the watermark)", injected.get("late", 0), audit["LATE"]),
        (
            "orders never closed -> flagged",
            injected.get("abandoned", 0),
            quarantine["OPEN_TOO_LONG"],
        ),
        ("invalid transitions -> quarantine", 0, quarantine["INVALID_TRANSITION"]),
        ("reversals / adjustments", "-", f"{ledger['REVERSAL']} / {ledger['ADJUSTMENT']}"),
        ("pay lines", injected.get("pay_lines", 0), ledger["LINE"]),
    ]
    for name, want, got in rows:
        table.add_row(name, str(want), str(got))
    console.print(table)


def chart_top_driver(folder: Path, zones: Zones) -> Path | None:
    """Draw the best-paid driver-day of a run folder to ``folder/chart-<driver>.png``.

    The demo ends with a picture a person can check by eye: the driver with the highest daily
    total in the run's most common currency (totals in different currencies do not compare),
    ties broken by driver id. ``None`` when the run paid nobody.
    """
    from driverpay.chart import DriverDay, lines_from_folder, render

    daily = folder / "driver_daily_pay.jsonl"
    rows = list(read_jsonl(daily)) if daily.is_file() else []
    if not rows:
        return None
    currency = Counter(r["currency"] for r in rows).most_common(1)[0][0]
    top = max(
        (r for r in rows if r["currency"] == currency),
        key=lambda r: (Decimal(r["total"]), r["driver_id"]),
    )
    driver, day = str(top["driver_id"]), date.fromisoformat(top["pay_date"])
    # Driver ids may hold any printable character (docs/contracts.md): keep the file name plain.
    path = folder / f"chart-{re.sub(r'[^A-Za-z0-9._-]', '_', driver)}.png"
    render(DriverDay(driver, day, lines_from_folder(folder, driver, day)), zones, path)
    return path
