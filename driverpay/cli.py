"""The ``driverpay`` command."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import unquote, urlparse

import typer
from rich.console import Console
from rich.progress import Progress

from driverpay import paycmd, topics
from driverpay.checkpoint_prune import DEFAULT_KEEP_JOBS
from jobs.settings import ARCHIVE_ENV, DEFAULT_ARCHIVE, DEFAULT_ZONES, ZONES_ENV
from udfs.timefmt import parse_calendar_date

if TYPE_CHECKING:
    from udfs.zones import Zones

# A crash's trace must not print local variables: tokens and the environment are among them.
app = typer.Typer(
    help="driverpay: drivers' daily pay from order events.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
err = Console(stderr=True)


def zones_path() -> Path:
    """The zones file named by DRIVERPAY_ZONES (docs/contracts.md §9)."""
    return Path(os.environ.get(ZONES_ENV, DEFAULT_ZONES))


def _zones() -> Zones:
    """DRIVERPAY_ZONES validated, else exit 2 naming the file: before any work (or Flink) starts."""
    from udfs.zones import ZonesError, load_zones

    try:
        return load_zones(zones_path())
    except OSError as exc:
        raise _bad_input(f"DRIVERPAY_ZONES: {exc.strerror or exc}: {zones_path()}") from None
    except ZonesError as exc:
        raise _bad_input(f"DRIVERPAY_ZONES: {exc}") from None


@app.command()
def pay() -> None:
    """Price work intervals against peak windows: JSON on stdin, JSON on stdout (contracts §4).

    Bad input exits 2 with one line on stderr naming the field. Bounds: at most 8 MiB of UTF-8
    (no BOM, no duplicate keys); at most 100,000 intervals and 100,000 peaks; rate_per_minute
    and multiplier are decimal strings with 0 <= x <= 1000 and at most 6 decimal places;
    timestamps are RFC 3339 with offset or epoch milliseconds, from 1970-01-01T00:00:00Z up to
    (not including) 2100-01-01T00:00:00Z.
    """
    try:
        print(paycmd.run(sys.stdin.buffer.read(paycmd.MAX_INPUT_BYTES + 1)))
    except paycmd.PayInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    except BrokenPipeError:  # the reader left early (`| head`): not a bug, nothing to write to
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # quiet exit-time flush
        print("error: stdout was closed before the response was written", file=sys.stderr)
        raise typer.Exit(1) from None
    except Exception as exc:  # a bug, not bad input: still one line, and never a traceback
        print(f"error: internal error ({type(exc).__name__}), please report it", file=sys.stderr)
        raise typer.Exit(1) from None


@app.command()
def generate(
    output: Annotated[Path, typer.Option("--output", "-o", help="events file (JSON lines)")],
    truth: Annotated[Path, typer.Option(help="expected totals (JSON)")] = Path("truth.json"),
    orders: Annotated[int, typer.Option(min=1)] = 2_000,
    drivers: Annotated[int, typer.Option(min=1)] = 200,
    seed: int = 7,
    day: Annotated[str, typer.Option(help="local pay date, YYYY-MM-DD")] = "2026-11-24",
    duplicate_rate: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.05,
    out_of_order_rate: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.2,
    late_rate: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.01,
    malformed_rate: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.01,
    hot_driver_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of orders taken by driver d00000")
    ] = 0.0,
    hot_order_retries: Annotated[
        int, typer.Option(min=0, help="extra copies of one order's delivery (a retry storm)")
    ] = 0,
) -> None:
    """Write a seeded, messy synthetic day of events and the truth to check a run against."""
    from driverpay.generate import GenConfig
    from driverpay.generate import generate as run_generator

    config = GenConfig(
        seed=seed,
        day=_day(day, "--day"),
        drivers=drivers,
        orders=orders,
        duplicate_rate=duplicate_rate,
        out_of_order_rate=out_of_order_rate,
        late_rate=late_rate,
        malformed_rate=malformed_rate,
        hot_driver_share=hot_driver_share,
        hot_order_retries=hot_order_retries,
    )
    zones = _zones()
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("orders", total=orders)
        try:
            result = run_generator(
                config, zones, output, truth, progress=lambda n: bar.advance(task, n)
            )
        except OSError as exc:  # e.g. --output in a folder that does not exist
            raise _bad_input(f"{exc.filename}: {exc.strerror or exc}") from None
    counts = ", ".join(f"{k}={v}" for k, v in sorted(result.counts.items()))
    err.print(f"wrote {output} and {truth}: {counts}")


@app.command()
def run(
    input: Annotated[Path, typer.Option("--input", "-i", exists=True, dir_okay=False)],
    output: Annotated[Path, typer.Option("--output", "-o", file_okay=False)],
    parallelism: Annotated[int, typer.Option(min=1, max=8)] = 1,
    out_of_orderness_s: Annotated[int, typer.Option(min=0, help="watermark lag")] = 120,
    grace_min: Annotated[int, typer.Option(min=0, help="lateness an order absorbs")] = 60,
    max_open_h: Annotated[int, typer.Option(min=1, help="flag orders open longer")] = 12,
    finalize_grace_min: Annotated[int, typer.Option(min=0, help="day final at midnight+")] = 60,
) -> None:
    """Run the streaming job on Flink's embedded local execution over a file of events."""
    from jobs.embedded import run_file
    from jobs.settings import HOUR, MINUTE, JobSettings

    settings = JobSettings(
        parallelism=parallelism,
        out_of_orderness_ms=out_of_orderness_s * 1000,
        grace_ms=grace_min * MINUTE,
        max_open_ms=max_open_h * HOUR,
        finalize_grace_ms=finalize_grace_min * MINUTE,
    )
    zones = _zones()
    _clear_earlier_run(output)
    result = run_file(input, output, zones, settings, archive_dir=output / "archive")
    rate = result.input_lines / result.seconds if result.seconds else 0
    if result.clock_offset_ms:
        ahead = result.clock_offset_ms / HOUR
        err.print(
            f"the input is dated after this machine's clock: read by its own time, "
            f"{ahead:,.1f} h ahead (docs/contracts.md §2)"
        )
    counts = ", ".join(f"{k}={len(v)}" for k, v in sorted(result.records.items()))
    err.print(
        f"{result.input_lines} events in {result.seconds:.1f} s ({rate:,.0f} events/s): {counts}"
    )


def _clear_earlier_run(output: Path) -> None:
    """An output folder holds one run: remove what an earlier run, or a reconcile of it, left.

    The output files are rewritten anyway. The rest would not be: Flink's file sink adds part
    files beside an earlier run's, so the archive would hold both runs' events, and an earlier
    reconcile's corrections file would count as streamed pay of this run (contracts §4).
    """
    from driverpay.reconcile import CORRECTIONS_FILE

    for stale in (output / "archive", output / "reconcile", output / CORRECTIONS_FILE):
        try:
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
            else:
                stale.unlink(missing_ok=True)
        except OSError as exc:
            raise _bad_input(f"--output: cannot clear {stale}: {exc.strerror or exc}") from None


@app.command()
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", file_okay=False)] = Path(".out/demo"),
    orders: Annotated[int, typer.Option(min=1)] = 20_000,
    drivers: Annotated[int, typer.Option(min=1)] = 500,
    parallelism: Annotated[int, typer.Option(min=1, max=8)] = 1,
) -> None:
    """Generate a messy day, run the streaming job embedded, and check totals against truth."""
    from driverpay.demo import chart_top_driver, summarize
    from driverpay.generate import GenConfig
    from driverpay.generate import generate as run_generator
    from jobs.embedded import run_file
    from jobs.settings import JobSettings

    zones = _zones()
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _bad_input(f"--output: {exc.strerror or exc}: {output}") from None
    events, truth = output / "events.jsonl", output / "truth.json"
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("generating orders", total=orders)
        config = GenConfig(orders=orders, drivers=drivers)
        run_generator(config, zones, events, truth, progress=lambda n: bar.advance(task, n))
    err.print(f"generated {events}; running the streaming job on embedded Flink...")
    _clear_earlier_run(output)
    result = run_file(events, output, zones, JobSettings(parallelism=parallelism))
    console = Console()
    passed = summarize(console, result, truth)
    chart = chart_top_driver(output, zones)
    if chart is not None:
        console.print(f"chart of the best-paid driver-day: {chart}", soft_wrap=True)
    if not passed:
        raise typer.Exit(1)


@app.command()
def produce(
    events: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON lines")],
    rate: Annotated[float, typer.Option(min=0, help="max records/s (0 = unlimited)")] = 0.0,
    topic: str = topics.ORDER_EVENTS,
) -> None:
    """Send an events file into Kafka (DRIVERPAY_KAFKA), keyed by order_id."""
    from confluent_kafka import KafkaException

    from driverpay.produce import check_reachable, read_lines
    from driverpay.produce import produce as send

    bootstrap = _kafka()
    lines = read_lines(events)
    try:
        check_reachable(bootstrap)
        with Progress(console=err) as bar:
            task = bar.add_task(f"producing to {topic}", total=len(lines))
            sent = send(lines, bootstrap, topic, rate, progress=lambda n: bar.advance(task, n))
    except KafkaException as exc:  # Kafka unreachable, or it stopped taking records: exit 1
        raise _service_failed(f"Kafka at {bootstrap}", exc) from None
    err.print(f"sent {sent} records to {topic} at {bootstrap}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="worker processes; each has its own pool and its own per-client rate limit",
        ),
    ] = 1,
    access_log: Annotated[
        bool, typer.Option(help="log every request (costs CPU per request under load)")
    ] = False,
) -> None:
    """Serve the read API (docs/contracts.md §8) with uvicorn; needs DRIVERPAY_API_TOKEN."""
    import uvicorn

    from driverpay.api import ConfigError, app_from_env

    try:
        api = app_from_env()  # checked here, so a bad setting exits 2 before any worker starts
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "access_log": access_log,
        # uvloop and httptools when installed (they are: pyproject), else asyncio and h11;
        # either way a request head over 16 KiB is refused (driverpay/http_limits.py)
        "loop": "auto",
        "http": _http_protocol(),
        # No proxy is in front by default: X-Forwarded-For is the client's own claim, and
        # trusting it (uvicorn does from 127.0.0.1) would let any client pick its rate limit.
        "proxy_headers": False,
    }
    if workers == 1:
        uvicorn.run(api, **options)
    else:  # workers are separate processes: each builds the app from the environment
        uvicorn.run("driverpay.api:app_from_env", factory=True, workers=workers, **options)


def _http_protocol() -> Any:
    """The HTTP protocol: httptools with a bound on the request head, else h11 (bounded)."""
    try:
        from driverpay.http_limits import BoundedHttpToolsProtocol
    except ImportError:
        return "h11"
    return BoundedHttpToolsProtocol


def _service_failed(service: str, exc: Exception) -> typer.Exit:
    """A service unreachable or failing: one line on stderr, exit code 1 (docs/contracts.md §4)."""
    print(f"error: {service}: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
    return typer.Exit(1)


def _bad_input(message: str) -> typer.Exit:
    """Bad input: one line on stderr, exit code 2 (docs/contracts.md)."""
    print(f"error: {message}".splitlines()[0], file=sys.stderr)
    return typer.Exit(2)


def archive_path(archive: Path | None, stream: Path | None = None) -> Path:
    """Where the raw events are: what a reconcile must compare with what it reconciles.

    ``--archive``, else DRIVERPAY_ARCHIVE (a folder or a ``file://`` URI, as the cluster's job
    takes it), else the embedded run's ``DIR/archive`` when comparing with ``--stream DIR``,
    else the cluster job's default ``.run/archive`` (docs/contracts.md §9).
    """
    if archive is not None:
        return archive
    configured = os.environ.get(ARCHIVE_ENV)
    if configured:
        uri = urlparse(configured)
        return Path(unquote(uri.path)) if uri.scheme == "file" else Path(configured)
    return stream / "archive" if stream is not None else Path(DEFAULT_ARCHIVE)


ZONES_VERSIONS_HELP = (
    "zones versions beyond DRIVERPAY_ZONES: a file of version records (one per line, e.g. a "
    "run's zones_versions.jsonl) or 'kafka' for the zones topic (docs/contracts.md §3)"
)


def _version_records(source: str | None) -> tuple[str, ...]:
    """Version records from a file of records, or the ``zones`` topic (``kafka``)."""
    if source is None:
        return ()
    if source == "kafka":
        from driverpay.zones_topic import read_records

        try:
            values = read_records(_kafka())
        except Exception as exc:  # Kafka unreachable, or the topic missing: one line, exit 1
            raise _service_failed(f"Kafka at {_kafka()}", exc) from None
        return tuple(v.decode("utf-8", errors="replace") for v in values)
    from udfs.zones import ZonesError
    from udfs.zones_history import parse_version_record

    try:
        text = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad_input(f"--zones-versions: {exc}") from None
    # A file given by hand must hold records: anything else (a zones YAML, say) would be
    # skipped line by line and the day priced without the versions the stream had.
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            parse_version_record(line)
        except ZonesError as exc:
            raise _bad_input(
                f"--zones-versions {source}, line {number}: not a zones version record: {exc}"
            ) from None
        records.append(line)
    return tuple(records)


def _day(text: str, option: str = "--date") -> date:
    """A calendar date written YYYY-MM-DD, else exit 2 naming ``option``."""
    try:
        return parse_calendar_date(text)
    except ValueError:
        raise _bad_input(f"{option}: not a date like 2026-11-24: {text!r}") from None


@app.command()
def recompute(
    date_: Annotated[str, typer.Option("--date", help="local pay date, YYYY-MM-DD")],
    output: Annotated[Path, typer.Option("--output", "-o", file_okay=False)],
    archive: Annotated[
        Path | None,
        typer.Option(help="raw event archive (default: DRIVERPAY_ARCHIVE, else .run/archive)"),
    ] = None,
    zone: Annotated[str | None, typer.Option(help="one zone only (default: all)")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="processes")] = 2,
    memory_limit: Annotated[str, typer.Option(help="DuckDB memory per process")] = "512MB",
    zones_versions: Annotated[str | None, typer.Option(help=ZONES_VERSIONS_HELP)] = None,
) -> None:
    """Recompute a day's pay from the archive with the streaming job's code (batch).

    Priced with DRIVERPAY_ZONES plus --zones-versions, each piece of an interval by the
    version in force over it, as the stream does (docs/contracts.md §3).
    """
    from driverpay.recompute import RecomputeError
    from driverpay.recompute import recompute as run_recompute
    from udfs.zones import ZonesError

    day = _day(date_)
    records = _version_records(zones_versions)
    try:
        zones_yaml = zones_path().read_bytes()
    except OSError as exc:
        raise _bad_input(f"zones: {exc}") from None
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task(f"recomputing {day}", total=None)
        try:
            summary = run_recompute(
                archive_path(archive),
                day,
                zones_yaml,
                output,
                zone=zone,
                workers=workers,
                memory_limit=memory_limit,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                version_records=records,
            )
        except (RecomputeError, ZonesError) as exc:
            raise _bad_input(str(exc)) from None
    err.print(
        f"{summary.events:,} events, {summary.orders:,} orders -> {summary.lines:,} lines, "
        f"{summary.driver_days:,} driver-days in {summary.seconds:.1f} s "
        f"({summary.rate:,.0f} events/s); wrote {output}/pay_ledger.jsonl, "
        "driver_daily_pay.jsonl"
    )


@app.command()
def reconcile(
    date_: Annotated[str, typer.Option("--date", help="local pay date, YYYY-MM-DD")],
    zone: Annotated[str | None, typer.Option(help="one zone only (default: all)")] = None,
    stream: Annotated[
        Path | None, typer.Option(help="embedded run folder (default: PostgreSQL)")
    ] = None,
    archive: Annotated[
        Path | None,
        typer.Option(
            help="raw event archive (default: DRIVERPAY_ARCHIVE, else --stream DIR/archive, "
            "else .run/archive)"
        ),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
    apply: Annotated[bool, typer.Option(help="emit correcting ledger lines")] = False,
    run_dir: Annotated[Path | None, typer.Option(help="where the recompute and metrics go")] = None,
    zones_versions: Annotated[
        str | None,
        typer.Option(
            help=ZONES_VERSIONS_HELP + "; default: --stream DIR's zones_versions.jsonl, else kafka"
        ),
    ] = None,
) -> None:
    """Compare streamed daily pay with a recompute from the archive; optionally correct it.

    The recompute prices with the zones versions the stream had (DRIVERPAY_ZONES plus the
    zones topic, or a run folder's zones_versions.jsonl): see docs/contracts.md §3, §4.
    """
    import json

    from rich.table import Table

    from driverpay.recompute import RecomputeError
    from driverpay.reconcile import ReconcileError
    from driverpay.reconcile import reconcile as run_reconcile
    from udfs.money import from_minor
    from udfs.zones import ZonesError

    day = _day(date_)
    try:
        zones_yaml = zones_path().read_bytes()
    except OSError as exc:
        raise _bad_input(f"zones: {exc}") from None
    if zones_versions is None:
        run_file = stream / "zones_versions.jsonl" if stream else None
        zones_versions = str(run_file) if run_file and run_file.is_file() else None
        zones_versions = zones_versions or (None if stream else "kafka")
    try:
        records = _version_records(zones_versions)
    except typer.Exit:
        raise
    except Exception as exc:  # Kafka unreachable: one line, exit 1
        print(f"error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        raise typer.Exit(1) from None
    name = day.isoformat() + (f"-{zone}" if zone else "")
    folder = run_dir or ((stream / "reconcile" / name) if stream else Path(".run/reconcile") / name)
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task(f"recomputing {day}", total=None)
        try:
            report = run_reconcile(
                day,
                zones_yaml,
                archive_path(archive, stream),
                folder,
                stream=stream,
                dsn=_pg_dsn(),
                zone=zone,
                apply=apply,
                kafka=_kafka(),
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                version_records=records,
            )
        except (RecomputeError, ReconcileError, ZonesError) as exc:
            raise _bad_input(str(exc)) from None
        except Exception as exc:  # PostgreSQL or Kafka unreachable: one line, exit 1
            print(f"error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
            raise typer.Exit(1) from None
    summary = report.to_json()
    if json_:
        print(json.dumps(summary, ensure_ascii=False))
        return
    table = Table(title=f"reconcile {report.date} ({report.stream}): {len(report.deltas)} deltas")
    for column in ("driver", "date", "streamed", "recomputed", "delta"):
        table.add_column(column, justify="left" if column in ("driver", "date") else "right")
    for d in report.deltas:
        cur = d["currency"]
        table.add_row(
            d["driver_id"],
            d["pay_date"],
            f"{from_minor(d['streamed_minor'], cur)} {cur}",
            f"{from_minor(d['recomputed_minor'], cur)} {cur}",
            f"{from_minor(d['recomputed_minor'] - d['streamed_minor'], cur):+} {cur}",
        )
    Console().print(table)
    for c in report.currency_conflicts:  # never corrected here: udfs.reconcile.mixed_currencies
        err.print(
            f"currency conflict, not corrected: {c['driver_id']} {c['pay_date']} streamed "
            f"{c['streamed_minor']} {c['streamed_currency']}, recomputed "
            f"{c['recomputed_minor']} {c['recomputed_currency']} (minor units)",
            markup=False,
        )
    done = f", {report.applied} applied" if apply else " (use --apply to emit them)"
    err.print(
        f"{summary['driver_days']} driver-days, {summary['drivers_affected']} drivers affected, "
        f"{len(report.corrections)} correction lines{done}; metrics in {folder}/reconcile.prom"
    )


@app.command()
def chart(
    driver: Annotated[str, typer.Option("--driver", help="driver_id")],
    date_: Annotated[str, typer.Option("--date", help="local pay date, YYYY-MM-DD")],
    output: Annotated[Path, typer.Option("--output", "-o", dir_okay=False, help="PNG file")],
    stream: Annotated[
        Path | None, typer.Option(help="embedded run folder (default: PostgreSQL)")
    ] = None,
) -> None:
    """Draw a driver's day: work intervals, peak windows, cumulative pay, corrections."""
    from driverpay.chart import ChartError, DriverDay, lines_from_folder, lines_from_postgres
    from driverpay.chart import render as draw
    from udfs.zones import ZonesError, load_zones

    day = _day(date_)
    try:
        zones = load_zones(zones_path())
        if stream is not None:
            lines = lines_from_folder(stream, driver, day)
        else:
            lines = lines_from_postgres(_pg_dsn(), driver, day)
        drawn = draw(DriverDay(driver, day, lines), zones, output)
    except (ChartError, ZonesError, OSError) as exc:
        raise _bad_input(str(exc)) from None
    except Exception as exc:  # PostgreSQL unreachable: one line, exit 1
        print(f"error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        raise typer.Exit(1) from None
    err.print(
        f"wrote {output}: {drawn['lines']} lines, total {drawn['total']} {drawn['currency']} "
        f"(zone {drawn['zone']})"
    )


@app.command()
def status(
    json_: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
    window: Annotated[
        float, typer.Option(min=0, max=300, help="seconds between two samples (rates, growth)")
    ] = 10.0,
    job: Annotated[
        str | None, typer.Option(help="Flink job id (default: newest driverpay)")
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="consumer group (default: DRIVERPAY_GROUP_ID, driverpay)")
    ] = None,
    flink_rest: Annotated[
        str | None, typer.Option(help="Flink REST URL (default: DRIVERPAY_FLINK_REST)")
    ] = None,
    prometheus: Annotated[
        list[str] | None, typer.Option(help="reporter /metrics URL, repeatable (9249-9252)")
    ] = None,
    reconcile_dir: Annotated[
        Path, typer.Option(help="where driverpay reconcile leaves its run folders")
    ] = Path(".run/reconcile"),
    textfile: Annotated[
        Path | None, typer.Option(help="also write a Prometheus textfile (lag, reconcile)")
    ] = None,
    checkpoint_intervals: Annotated[
        float, typer.Option(min=1, help="unhealthy: last checkpoint older than N intervals")
    ] = 3.0,
    max_lag: Annotated[int, typer.Option(min=0, help="unhealthy: total lag above")] = 10_000,
    max_lag_growth: Annotated[
        float, typer.Option(min=0, help="unhealthy: lag growing faster (records/s)")
    ] = 200.0,
    max_skew: Annotated[
        float, typer.Option(min=1, help="unhealthy: busiest subtask / median of the others")
    ] = 4.0,
    skew_min_records: Annotated[
        int, typer.Option(min=0, help="judge skew only from this many records in")
    ] = 1_000,
) -> None:
    """The job's health on one screen: exit 0 healthy, 1 unhealthy, 2 unreachable/bad usage."""
    import json

    from driverpay import status as health

    limits = health.Thresholds(
        checkpoint_intervals, max_lag, max_lag_growth, max_skew, skew_min_records
    )
    sources = health.Sources.from_env(
        flink_rest=flink_rest,
        prometheus=tuple(prometheus) if prometheus else None,
        group_id=group,
        reconcile_dir=reconcile_dir,
        job_id=job,
    )
    try:
        snapshot = health.collect(sources, window)
    except health.UnreachableError as exc:
        print(f"error: {exc}".splitlines()[0], file=sys.stderr)
        raise typer.Exit(2) from None
    except (KeyError, TypeError, ValueError) as exc:  # a service answered in another shape
        # exit 1 means "unhealthy": a status that cannot read its sources must not say that
        raise _bad_input(f"a service answered in an unexpected shape: {exc!r}") from None
    findings = health.evaluate(snapshot, limits)
    if textfile is not None:
        tmp = textfile.with_name(textfile.name + ".tmp")  # the collector never reads half a file
        try:
            tmp.write_text(health.textfile(snapshot, findings))
            tmp.replace(textfile)
        except OSError as exc:
            raise _bad_input(f"--textfile {textfile}: {exc.strerror or exc}") from None
    if json_:
        print(json.dumps(health.to_json(snapshot, findings)))
    else:
        health.render(Console(), snapshot, findings)
    raise typer.Exit(1 if findings else 0)


checkpoints_app = typer.Typer(
    help="Retained checkpoints of the cluster's jobs (docs/contracts.md §4).",
    no_args_is_help=True,
)
app.add_typer(checkpoints_app, name="checkpoints")


@checkpoints_app.command("prune")
def checkpoints_prune(
    keep_jobs: Annotated[
        int, typer.Option(min=1, help="newest driverpay jobs whose checkpoints stay (rollback)")
    ] = DEFAULT_KEEP_JOBS,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print, remove nothing")] = False,
    cluster_stopped: Annotated[
        bool,
        typer.Option(
            "--cluster-stopped",
            help="the Flink cluster is down on purpose: prune without asking it what runs",
        ),
    ] = False,
    flink_dir: Annotated[
        Path | None, typer.Option(help="the cluster's folder (default: .run/flink)")
    ] = None,
) -> None:
    """Remove the checkpoint folders no recovery or rollback needs; savepoints stay.

    Kept: any unfinished job's, the one recover.sh would resume from, and the newest
    --keep-jobs driverpay jobs' (docs/contracts.md §4).
    """
    import httpx

    from driverpay import checkpoint_prune
    from driverpay.paths import RUN
    from driverpay.status import DEFAULT_FLINK_REST, FLINK_REST_ENV

    folder = flink_dir or RUN / "flink"
    if not (folder / "checkpoints").is_dir():
        raise _bad_input(f"--flink-dir: {folder} has no checkpoints folder")
    rest = os.environ.get(FLINK_REST_ENV, DEFAULT_FLINK_REST)

    def unfinished() -> dict[str, checkpoint_prune.Job]:
        try:
            return checkpoint_prune.unfinished_jobs(rest)
        except httpx.HTTPError as exc:
            if cluster_stopped:
                return {}
            err.print(
                f"error: the Flink REST API at {rest} does not answer ({type(exc).__name__}): "
                "a running job's checkpoints cannot be told from a dead one's. Start the "
                "cluster, or pass --cluster-stopped if it is down on purpose."
            )
            raise typer.Exit(1) from None

    try:
        todo, freed = checkpoint_prune.prune(folder, unfinished, keep_jobs, dry_run)
    except checkpoint_prune.PruneRefusedError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from None
    for kept, why in todo.keep.items():
        err.print(f"kept {kept.name}: {why}")
    verb = "would remove" if dry_run else "removed"
    for gone in todo.remove:
        err.print(f"{verb} {gone.name}")
    print(f"{verb} {len(todo.remove)} folders ({freed / 1e6:.1f} MB), kept {len(todo.keep)}")


zones_app = typer.Typer(
    help="Zones reference data in motion: versions on the zones topic (docs/contracts.md §3, §4).",
    no_args_is_help=True,
)
app.add_typer(zones_app, name="zones")


def _kafka() -> str:
    """DRIVERPAY_KAFKA, read as the job reads it (docs/contracts.md §9)."""
    from jobs.endpoints import Endpoints

    return Endpoints.from_env().kafka


def _pg_dsn() -> str:
    """DRIVERPAY_PG_DSN, read as the job reads it (docs/contracts.md §9).

    The DSN carries no password: libpq finds it through PGPASSFILE, which defaults to the
    stack's file (.run/secrets/pgpass) here as in the API and ``status``.
    """
    from driverpay.secrets import ensure_pgpassfile_env
    from jobs.endpoints import Endpoints

    ensure_pgpassfile_env()
    return Endpoints.from_env().pg_dsn


@zones_app.command("publish")
def zones_publish(
    file: Annotated[Path, typer.Argument(help="zones document (YAML, docs/contracts.md §3)")],
    effective: Annotated[
        str | None,
        typer.Option(help="RFC 3339 instant from which this version prices (default: the file's)"),
    ] = None,
) -> None:
    """Validate a zones document and publish it as one version to the zones topic.

    The version (content hash, printed on stdout) is the record's key, so publishing the same
    version again changes nothing. It must fit the versions the job prices with: that of
    DRIVERPAY_ZONES (the job's own file), then the topic's. Refused with exit 2 and one line
    naming the field: an invalid document, a version that changes an existing zone's timezone
    or currency (needs a fresh start), an effective time another version already has (a file
    without one is "since forever", which DRIVERPAY_ZONES usually is: give --effective).
    Kafka: DRIVERPAY_KAFKA. See docs/contracts.md §3 (format, record) and §4.
    """
    from driverpay.zones_topic import prepare, publish, read_versions
    from udfs.timefmt import TimestampError, parse_rfc3339_ms
    from udfs.zones import ZonesError

    try:
        document = file.read_bytes()
    except OSError as exc:
        raise _bad_input(f"FILE: {exc}") from None
    try:
        effective_ms = None if effective is None else parse_rfc3339_ms(effective)
    except TimestampError as exc:
        raise _bad_input(f"--effective: {exc}") from None
    submission = _zones()  # the job prices with DRIVERPAY_ZONES's version first, then the topic's
    try:
        prepare(document, effective_ms, [submission])  # before asking Kafka
        known = [submission, *read_versions(_kafka())]
        zones = prepare(document, effective_ms, known)
    except ZonesError as exc:
        raise _bad_input(_publish_refusal(exc, effective_ms)) from None
    except Exception as exc:  # Kafka unreachable: one line, exit 1
        print(f"error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        raise typer.Exit(1) from None
    try:
        publish(zones, _kafka())
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        raise typer.Exit(1) from None
    print(zones.version)


def _publish_refusal(exc: Exception, effective_ms: int | None) -> str:
    """The refusal's one line; a second version "since forever" is told how to say from when."""
    message = str(exc)
    if effective_ms is None and message.startswith("effective: since forever"):
        message += (
            " (pass --effective RFC3339: the instant from which it prices, e.g. the local start"
            " of a day to re-price that whole day; docs/contracts.md §3)"
        )
    return message


@zones_app.command("sync")
def zones_sync(
    url: Annotated[str, typer.Option(help="the reference service's zones document URL")],
    interval: Annotated[float, typer.Option(min=0.1, help="seconds between fetches")] = 60.0,
    timeout: Annotated[float, typer.Option(min=0.1, help="per-request timeout, seconds")] = 5.0,
    attempts: Annotated[int, typer.Option(min=1, max=10, help="tries per fetch")] = 3,
    fail_max: Annotated[int, typer.Option(min=1, help="failed fetches that open the breaker")] = 3,
    reset: Annotated[float, typer.Option(min=0.1, help="seconds the breaker stays open")] = 60.0,
    rate: Annotated[int, typer.Option(min=1, help="max requests to upstream per minute")] = 30,
    metrics_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Prometheus metrics on 127.0.0.1 (0: off)")
    ] = 9464,
    status_file: Annotated[Path, typer.Option(help="JSON status, rewritten atomically")] = Path(
        ".run/zones-sync.json"
    ),
) -> None:
    """Keep the zones topic in step with an upstream reference service (long-running).

    Fetches the zones document every --interval seconds (retries with jittered backoff, a
    circuit breaker, a rate limit), validates it, and publishes a new version when the content
    changed; a document without `effective` takes effect at the fetch time. When upstream
    fails the last good version stays in use. Breaker state: the gauge
    driverpay_zones_sync_breaker_state and --status-file. See docs/contracts.md §4.
    """
    import signal
    import threading

    from prometheus_client import start_http_server

    from driverpay.zones_sync import SyncSettings, ZonesSync
    from driverpay.zones_topic import publish, read_versions
    from udfs.zones_history import effective_key

    submission = _zones()  # the versions the job knows: DRIVERPAY_ZONES's, then the topic's
    try:
        known = [submission, *read_versions(_kafka())]
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        raise typer.Exit(1) from None
    settings = SyncSettings(
        url=url,
        interval_s=interval,
        timeout_s=timeout,
        attempts=attempts,
        fail_max=fail_max,
        reset_s=reset,
        requests_per_minute=rate,
    )
    status_file.parent.mkdir(parents=True, exist_ok=True)
    current = max(known, key=effective_key) if known else None
    sync = ZonesSync(
        settings, lambda z: publish(z, _kafka()), current, status_file=status_file, known=known
    )
    if metrics_port:
        start_http_server(metrics_port, addr="127.0.0.1", registry=sync.registry)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    err.print(f"zones sync: {url} every {interval:g} s; in use: {current and current.version}")
    try:
        sync.run(stop)
    finally:
        sync.close()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
