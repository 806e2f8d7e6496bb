"""``driverpay chart``: one driver's day as a picture, for support staff and drivers.

Two panels on the zone's local clock: the pay so far (a step per line, corrections marked)
over shaded peak windows labelled with the multiplier that applies (largest wins, as paid),
and the work intervals as bars. Data comes from an output folder (ledger plus corrections) or
PostgreSQL ``pay_lines``; peak windows come from the zones file, so the picture shows the
schedule the lines were priced with only when ``zones_version`` matches (the title says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from driverpay.recompute import read_jsonl
from driverpay.reconcile import CORRECTIONS_FILE, pg_line
from udfs.ledger import LineKind, PayLine
from udfs.localday import day_end_ms, day_start_ms
from udfs.money import from_minor, to_minor
from udfs.reconcile import line_from_record
from udfs.timefmt import to_datetime
from udfs.zones import Zones


class ChartError(ValueError):
    """Nothing to draw: unknown driver or date, missing folder."""


@dataclass
class DriverDay:
    """What the chart needs: the driver's lines of the day, and the zone's clock and peaks."""

    driver_id: str
    day: date
    lines: list[PayLine]


def lines_from_folder(folder: Path, driver_id: str, day: date) -> list[PayLine]:
    """The driver's ledger lines of ``day`` from an output folder, corrections included."""
    if not (folder / "pay_ledger.jsonl").is_file():
        raise ChartError(f"--stream: {folder} has no pay_ledger.jsonl")
    iso = day.isoformat()
    lines = []
    for name in ("pay_ledger.jsonl", CORRECTIONS_FILE):
        if (folder / name).is_file():
            lines += [
                line_from_record(r)
                for r in read_jsonl(folder / name)
                if r["driver_id"] == driver_id and r["pay_date"] == iso
            ]
    return lines


def lines_from_postgres(dsn: str, driver_id: str, day: date) -> list[PayLine]:
    """The driver's ``pay_lines`` of ``day`` (a primary-key index range)."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=10) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT line_id, kind, order_id, driver_id, zone, start_ts, end_ts, base_ms, "
            "weighted_ms, rate_per_minute, amount_cents, currency, zones_version, reason "
            "FROM pay_lines WHERE driver_id = %s AND pay_date = %s",
            (driver_id, day),
        )
        return [pg_line(row, day.isoformat()) for row in cur.fetchall()]


def render(driver: DriverDay, zones: Zones, output: Path) -> dict[str, Any]:
    """Draw the PNG; return what was drawn (for the command's summary line and tests)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    if not driver.lines:
        raise ChartError(f"no pay lines for {driver.driver_id} on {driver.day.isoformat()}")
    zone_name = max(
        {line.interval.zone for line in driver.lines},
        key=lambda z: sum(1 for x in driver.lines if x.interval.zone == z),
    )
    if zone_name not in zones:
        raise ChartError(f"zone {zone_name!r} is not in the zones file")
    zone = zones[zone_name]
    tz = zone.timezone
    lo, hi = day_start_ms(driver.day, tz), day_end_ms(driver.day, tz)

    def local(ms: int) -> datetime:
        return to_datetime(ms).astimezone(tz).replace(tzinfo=None)

    ordered = sorted(driver.lines, key=lambda x: (x.end_ms, x.line_id))
    currency = ordered[0].currency
    fig, (pay_ax, work_ax) = plt.subplots(
        2, 1, figsize=(12, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    peaks = [
        (max(s, lo), min(e, hi), m) for s, e, m in zone.schedule.segments_between(lo, hi) if m != 1
    ]
    for start, end, m in peaks:
        for ax in (pay_ax, work_ax):
            ax.axvspan(local(start), local(end), color="#f4a261", alpha=0.12 + 0.08 * float(m))
        pay_ax.text(
            local(start + (end - start) // 2),
            1.01,
            f"×{m.normalize()}",
            transform=pay_ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=10,
            color="#b5541c",
            fontweight="bold",
        )
    # Cumulative pay: each line counts at its end (when it is earned), reversals subtract.
    times, totals, running = [local(lo)], [Decimal(0)], 0
    for line in ordered:
        running += to_minor(line.amount, line.currency)
        times.append(local(line.end_ms))
        totals.append(from_minor(running, currency))
    times.append(local(hi))
    totals.append(totals[-1])
    pay_ax.step(times, [float(t) for t in totals], where="post", color="#264653", lw=2)
    pay_ax.fill_between(times, [float(t) for t in totals], step="post", color="#2a9d8f", alpha=0.15)
    marks = {LineKind.ADJUSTMENT: ("^", "#2a9d8f"), LineKind.REVERSAL: ("v", "#e63946")}
    corrections = 0
    fixes: dict[int, list[int]] = {}  # end instant -> indexes of its corrections
    for i, line in enumerate(ordered, start=1):
        if line.kind in marks:
            corrections += 1
            shape, color = marks[line.kind]
            pay_ax.plot(times[i], float(totals[i]), shape, color=color, ms=9, zorder=5)
            fixes.setdefault(line.end_ms, []).append(i)
    # One label per instant (a reversal and its adjustment share one), alternating sides.
    for n, indexes in enumerate(fixes.values()):
        net = sum((ordered[i - 1].amount for i in indexes), start=Decimal(0))
        last = indexes[-1]
        pay_ax.annotate(
            f"corrected {net:+} {currency}",
            (times[last], float(totals[last])),
            xytext=(8, 14 if n % 2 == 0 else -18),
            textcoords="offset points",
            fontsize=8,
            color="#e63946" if net < 0 else "#2a9d8f",
            arrowprops={"arrowstyle": "-", "color": "#999999", "lw": 0.6},
        )
    pay_ax.set_ylabel(f"pay so far ({currency})")
    pay_ax.set_ylim(bottom=0, top=max(1.0, float(max(totals)) * 1.12))
    pay_ax.grid(alpha=0.3)
    total = from_minor(running, currency)
    pay_ax.set_title(
        f"{driver.driver_id} · {driver.day.isoformat()} · zone {zone_name} "
        f"({tz.key}) · total {total} {currency} · {len(ordered)} lines"
        + (f", {corrections} corrections" if corrections else ""),
        fontsize=12,
        pad=18,
    )
    work = [x for x in ordered if x.kind is not LineKind.REVERSAL]
    for line in work:
        left = local(line.start_ms)
        width = local(max(line.end_ms, line.start_ms + 30_000)) - left  # 0-length stays visible
        color = "#e9c46a" if line.kind is LineKind.ADJUSTMENT else "#264653"
        work_ax.barh(0, width, left=left, height=0.6, color=color, edgecolor="white", lw=0.5)
    work_ax.set_yticks([0], ["work"])
    work_ax.set_ylim(-0.8, 0.8)
    work_ax.set_xlim(local(lo), local(hi))
    hours = mdates.HourLocator(byhour=range(0, 24, 2))  # type: ignore[no-untyped-call]
    work_ax.xaxis.set_major_locator(hours)
    work_ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))  # type: ignore[no-untyped-call]
    work_ax.set_xlabel(f"local time ({tz.key})")
    work_ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=110)
    plt.close(fig)
    return {"lines": len(ordered), "total": str(total), "currency": currency, "zone": zone_name}
