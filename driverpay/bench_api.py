"""``make bench-api``: the read API under an HTTP load generator (README, "Read path under load").

One call: PostgreSQL on 127.0.0.1 (started with scripts/stack/postgres.sh if it is not running,
and stopped again only then), ``--drivers`` driver-day rows seeded as the owner under this run's
own driver ids (deleted afterwards), ``driverpay serve`` on a free loopback port with a generated
token, then vegeta (an open-model, constant-rate generator: no coordinated omission) asking
``GET /v1/drivers/{random driver}/pay`` at a fixed ``--rate`` (p50/p99) and at each rate of a
ramp (the maximum sustainable rate). Writes ``.out/bench-api/bench-api-<time>.json`` (+ the
table as ``.md``), prints the table, and stops every process it started, by PID.

All the load comes from one address, so the server's per-client rate limit is lifted for the
run (``DRIVERPAY_API_RATE``); everything else is as ``driverpay serve`` runs in production.
Run it under the stack lock on a shared machine (it competes for the same cores).
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import psycopg
import typer
from rich.console import Console

from driverpay.bench import machine
from driverpay.bench_api_report import (
    COLUMNS,
    TARGET_RATE,
    Step,
    build_report,
    markdown,
    parse_results,
    rows,
    summarize,
    without_errors,
)
from driverpay.bench_report import VERDICT, print_table, write_report
from driverpay.paths import ROOT
from driverpay.secrets import ensure_pgpassfile_env

PG_SCRIPT = ROOT / "scripts" / "stack" / "postgres.sh"
DAY = date(2026, 11, 24)
PREFIX = "bench-api-"  # driver ids of seeded rows: bench-api-<run>-<n>
DEFAULT_RAMP = (250, 500, 750, 1000, 1500, 2000, 2500, 3000, 4000, 5000)
# vegeta opens a connection per concurrent request; past this many it sends late instead, and
# the step fails on its answered rate (a saturated server would otherwise be buried in sockets)
MAX_WORKERS = 256
console = Console(stderr=True)


@dataclass(frozen=True)
class Options:
    """What one bench-api call does."""

    drivers: int
    rate: float
    duration_s: float
    ramp: tuple[float, ...]
    step_s: float
    warmup_s: float
    workers: int
    pg_port: int
    out: Path
    seed: int
    profile: bool
    server_root: Path = ROOT


def vegeta_binary() -> str:
    """The vegeta executable (scripts/bootstrap.sh installs it)."""
    path = shutil.which("vegeta")
    if path is None:
        raise typer.BadParameter("vegeta not found: run scripts/bootstrap.sh (make bootstrap)")
    return path


def postgres(action: str, port: int) -> subprocess.CompletedProcess[str]:
    """scripts/stack/postgres.sh ACTION with ``PG_PORT``."""
    return subprocess.run(
        [str(PG_SCRIPT), action],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PG_PORT": str(port)},
    )


@contextmanager
def postgres_up(port: int) -> Iterator[None]:
    """PostgreSQL on 127.0.0.1:``port``; started (and later stopped) only if not running."""
    started = False
    if postgres("status", port).returncode != 0:
        console.print(f"starting PostgreSQL on 127.0.0.1:{port}")
        result = postgres("start", port)
        if result.returncode != 0:
            raise RuntimeError(f"postgres.sh start failed:\n{result.stderr}")
        started = True
    try:
        yield
    finally:
        if started:
            postgres("stop", port)


def dsn(role: str, port: int) -> str:
    """A loopback DSN for ``role`` (password from the pgpass file)."""
    return f"postgresql://{role}@127.0.0.1:{port}/driverpay"


def driver_ids(run: str, count: int) -> list[str]:
    """The seeded driver ids of run ``run``."""
    return [f"{PREFIX}{run}-{n:06d}" for n in range(count)]


@contextmanager
def seeded(port: int, ids: Sequence[str], rng: random.Random) -> Iterator[None]:
    """One driver-day row per id (as the owner, with COPY), deleted afterwards."""
    owner = dsn("driverpay_owner", port)
    columns = "driver_id, pay_date, total_cents, currency, line_count, version, final, post_final"
    with psycopg.connect(owner) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY driver_daily_pay ({columns}) FROM STDIN") as copy:
            for driver in ids:
                lines = rng.randint(1, 40)
                total = sum(rng.randint(50, 2_000) for _ in range(lines))
                copy.write_row((driver, DAY, total, "USD", lines, lines, False, False))
        cur.execute("ANALYZE driver_daily_pay")
    try:
        yield
    finally:
        with psycopg.connect(owner) as conn:
            conn.execute("DELETE FROM driver_daily_pay WHERE driver_id = ANY(%s)", (list(ids),))


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (uvicorn's workers), from /proc."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


class Server:
    """``driverpay serve`` on 127.0.0.1 in a child process, stopped by PID."""

    def __init__(self, options: Options, token: str, log: Path) -> None:
        self.port = free_port()
        self.token = token
        env = {
            **os.environ,
            "DRIVERPAY_API_TOKEN": token,
            "DRIVERPAY_PG_READ_DSN": dsn("driverpay_reader", options.pg_port),
            # every request comes from 127.0.0.1: lift the per-client limit for the run
            "DRIVERPAY_API_RATE": "1000000",
            "DRIVERPAY_API_BURST": "1000000",
        }
        command = [sys.executable, "-m", "driverpay.cli", "serve"]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        if options.workers > 1:
            command += ["--workers", str(options.workers)]
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            command, cwd=options.server_root, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30) -> None:
        """Until /healthz answers 200 (the pool reached PostgreSQL)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the API exited with {self.proc.returncode}: see {self.log.name}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the API was not healthy within {timeout:.0f} s")

    def pids(self) -> list[int]:
        """The server process and its workers."""
        return [self.proc.pid, *children(self.proc.pid)]

    def stop(self) -> None:
        """TERM the server (uvicorn stops its workers), KILL whatever is left, by PID."""
        workers = children(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.log.close()


def write_targets(
    path: Path, url: str, token: str, ids: Sequence[str], n: int, rng: random.Random
) -> None:
    """``n`` requests for drivers drawn at random (with replacement), in vegeta's HTTP format."""
    day = DAY.isoformat()
    with path.open("w") as out:
        for _ in range(n):
            driver = rng.choice(ids)
            out.write(f"GET {url}/v1/drivers/{driver}/pay?date={day}\n")
            out.write(f"Authorization: Bearer {token}\n\n")


def machine_ticks() -> tuple[int, int]:
    """CPU ticks of the whole machine from /proc/stat: (busy, total)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def process_ticks(pids: Sequence[int]) -> int:
    """User + system CPU ticks of ``pids`` (those still alive)."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total


class Load:
    """Runs vegeta against the server and summarizes each run."""

    def __init__(self, options: Options, server: Server, ids: Sequence[str], rng: random.Random):
        self.options = options
        self.server = server
        self.ids = ids
        self.rng = rng
        self.vegeta = vegeta_binary()
        self.work = options.out / "work"
        self.work.mkdir(parents=True, exist_ok=True)

    def attack(self, rate: float, seconds: float, name: str) -> Step:
        """``rate`` requests/s for ``seconds``; the step's summary."""
        n = max(1, round(rate * seconds))
        targets = self.work / f"{name}.targets"
        write_targets(targets, self.server.url, self.server.token, self.ids, n, self.rng)
        results = self.work / f"{name}.bin"
        pids = self.server.pids()
        busy0, total0 = machine_ticks()
        api0 = process_ticks(pids)
        subprocess.run(
            [
                self.vegeta,
                "attack",
                "-format=http",
                f"-targets={targets}",
                f"-rate={rate:g}/1s",
                f"-duration={seconds:g}s",
                "-timeout=5s",
                f"-max-workers={MAX_WORKERS}",
                f"-output={results}",
            ],
            check=True,
            timeout=seconds + 60,
        )
        busy1, total1 = machine_ticks()
        api1 = process_ticks(pids)
        csv_text = subprocess.run(
            [self.vegeta, "encode", "--to", "csv", str(results)],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        targets.unlink()
        results.unlink()
        self.settle()
        step = summarize(rate, parse_results(csv_text.splitlines()))
        elapsed = max(1, total1 - total0)
        step.cpu_busy_pct = round(100 * (busy1 - busy0) / elapsed, 1)
        step.api_cpu_pct = round(100 * (api1 - api0) * (os.cpu_count() or 1) / elapsed, 1)
        return step

    def settle(self, timeout: float = 60) -> None:
        """Until the server has drained what it queued: /healthz fast 3 times in a row."""
        deadline = time.monotonic() + timeout
        fast = 0
        # one client: httpx.get would build a client (and its TLS context, ~20+ ms) per call
        with httpx.Client(base_url=self.server.url, timeout=5) as http:
            while fast < 3 and time.monotonic() < deadline:
                begin = time.monotonic()
                try:
                    ok = http.get("/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                fast = fast + 1 if ok and time.monotonic() - begin < 0.02 else 0
                time.sleep(0.5)


def run_bench(options: Options) -> dict[str, Any]:
    """Every measurement of one call; the report (also written to ``options.out``)."""
    options.out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    rng = random.Random(options.seed)
    run = uuid.uuid4().hex[:8]
    ids = driver_ids(run, options.drivers)
    ensure_pgpassfile_env()
    fixed: Step | None = None
    ramp: list[Step] = []
    with postgres_up(options.pg_port), seeded(options.pg_port, ids, rng):
        server = Server(options, secrets.token_urlsafe(32), options.out / "server.log")
        try:
            server.wait_ready()
            load = Load(options, server, ids, rng)
            console.print(f"API on {server.url} (pids {server.pids()}), {len(ids):,} drivers")
            if options.warmup_s:
                load.attack(options.rate / 4, options.warmup_s, "warmup")
            fixed = load.attack(options.rate, options.duration_s, "fixed")
            console.print(f"fixed {options.rate:g}/s: p50 {fixed.p50_ms} ms, p99 {fixed.p99_ms} ms")
            failed = 0
            for rate in options.ramp:
                step = load.attack(rate, options.step_s, f"ramp-{rate:g}")
                ramp.append(step)
                console.print(
                    f"ramp {rate:g}/s: {step.achieved_per_s:g}/s answered, "
                    f"{step.error_count} errors, p99 {step.p99_ms} ms"
                )
                # on past the p99 target (the no-error rate is measured too), not past 2 failures
                failed = 0 if without_errors(step) else failed + 1
                if failed >= 2:
                    break
            if options.profile:
                profile(options, server, load)
        finally:
            server.stop()
    meta = {
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "config": {
            "drivers": options.drivers,
            "rate": options.rate,
            "duration_s": options.duration_s,
            "step_s": options.step_s,
            "workers": options.workers,
            "server_root": str(options.server_root),
            "seed": options.seed,
            "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
        },
    }
    report = build_report(meta, fixed, ramp)
    write_report(report, options.out, "bench-api", started, markdown(report))
    return report


def profile(options: Options, server: Server, load: Load) -> None:
    """py-spy over the server while it takes the fixed rate: ``profile.svg`` (not measured)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():  # not a dependency of the project: a tool for whoever profiles
        console.print("[yellow]--profile: py-spy not found (pip install py-spy); skipped")
        return
    out = options.out / "profile.svg"
    seconds = max(5, round(options.duration_s / 2))
    command = [spy, "record", "--subprocesses", "-o", str(out), "-d", str(seconds)]
    command += ["--pid", str(server.proc.pid)]
    spying = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        load.attack(options.rate, seconds, "profile")
        spying.wait(timeout=60)
        console.print(f"profile: {out}")
    finally:
        if spying.poll() is None:
            spying.terminate()
            spying.wait(timeout=10)


def show(report: dict[str, Any]) -> None:
    """The figures as a table, then the target and the maximum sustainable rates."""
    title = f"driverpay bench-api {report['date']} ({report['machine']['cpus']} cores)"
    out = print_table(title, COLUMNS, rows(report), 120)
    goal = report["targets"]["p99_ms_at_rate"]
    out.print(
        f"p99 at {_g(goal['rate'])}/s: {goal['measured']} ms vs target {goal['target']:g} ms: "
        f"{VERDICT[goal['met']]}"
    )
    best = report["max_sustainable"]
    out.print(
        f"max sustainable: {_g(best['no_errors_per_s'])}/s without errors, "
        f"{_g(best['p99_within_target_per_s'])}/s with p99 <= {goal['target']:g} ms"
    )


def _g(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


app = typer.Typer(add_completion=False)


@app.command()
def main(
    drivers: Annotated[int, typer.Option(min=1, help="driver-day rows to seed")] = 20_000,
    rate: Annotated[float, typer.Option(min=1, help="requests/s of the fixed run")] = TARGET_RATE,
    duration: Annotated[float, typer.Option(min=1, help="seconds of the fixed run")] = 30,
    ramp: Annotated[
        list[float] | None, typer.Option(min=1, help="rates of the ramp, requests/s (repeat)")
    ] = None,
    step: Annotated[float, typer.Option(min=1, help="seconds per ramp step")] = 10,
    warmup: Annotated[float, typer.Option(min=0, help="seconds at --rate first, not counted")] = 3,
    workers: Annotated[int, typer.Option(min=1, max=16, help="uvicorn worker processes")] = 1,
    pg_port: Annotated[int, typer.Option(min=1, max=65535)] = 5432,
    output: Annotated[Path, typer.Option("--output", "-o", file_okay=False)] = Path(
        ".out/bench-api"
    ),
    seed: int = 7,
    quick: Annotated[bool, typer.Option(help="smoke run: 5 s fixed, a 2-step ramp")] = False,
    server_root: Annotated[
        Path,
        typer.Option(
            file_okay=False,
            exists=True,
            help="serve from this checkout (e.g. an older commit's, to compare)",
        ),
    ] = ROOT,
    profile_: Annotated[
        bool, typer.Option("--profile", help="then py-spy the server under the fixed rate")
    ] = False,
) -> None:
    """Benchmark the read API with vegeta at a fixed rate and a ramp (README)."""
    options = Options(
        drivers=drivers,
        rate=rate,
        duration_s=5 if quick else duration,
        ramp=(500.0, 1000.0) if quick else tuple(ramp or DEFAULT_RAMP),
        step_s=3 if quick else step,
        warmup_s=1 if quick else warmup,
        workers=workers,
        pg_port=pg_port,
        out=output,
        seed=seed,
        profile=profile_,
        server_root=server_root,
    )
    vegeta_binary()  # fail fast, before starting anything
    # TERM (and INT, ignored in a background job) unwinds, so the server and the rows go too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = run_bench(options)
    show(report)


if __name__ == "__main__":
    app()
