"""The running stack keeps its secrets and its ports to itself.

Run after the other stack tests (or alone: it then deploys the job first) so that every log holds
a full job run: submission, JDBC connections with the writer's password, checkpoints.
"""

from __future__ import annotations

import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from driverpay.stackctl import pg_run_dir
from tests.stack import stack

pytestmark = pytest.mark.stack

RUN = stack.ROOT / ".run"
PG_DIR = pg_run_dir()  # inside RUN unless the postgres OS user cannot enter the checkout
# flink-metrics-prometheus 2.2.1 binds `new InetSocketAddress(port)`, the wildcard address, and
# has no host option: the documented exception (README "Security"), guarded outside the process.
PROMETHEUS_PORTS = set(range(9249, 9253))  # JM, then one per TaskManager
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def passwords() -> set[str]:
    lines = (RUN / "secrets" / "pgpass").read_text().splitlines()
    found = {line.split(":")[-1] for line in lines if line.count(":") == 4}
    assert len(found) == 3
    return found


def stack_pids() -> set[int]:
    files = [RUN / "kafka" / "kafka.pid", *(RUN / "flink" / "pid").glob("*.pid")]
    pids = {int(f.read_text().split()[0]) for f in files if f.exists() and f.read_text().strip()}
    postmaster = PG_DIR / "data" / "postmaster.pid"
    if postmaster.exists():
        pids.add(int(postmaster.read_text().splitlines()[0]))
    return pids


def log_files() -> Iterator[Path]:
    """Every file the stack logs to: Flink, Kafka, PostgreSQL, watchdog and start-up output."""
    pg_logs = [] if PG_DIR.is_relative_to(RUN) else list((PG_DIR / "log").rglob("*"))
    for path in [*RUN.rglob("*"), *pg_logs]:
        if not path.is_file() or "secrets" in path.parts:
            continue
        name = path.name
        logish = any(part in ("log", "logs") for part in path.parts) or re.search(
            r"\.(log|out|err)(\.\d+)?$", name
        )
        if logish:
            yield path


@pytest.fixture(scope="module")
def ran(real_stack: None, request: pytest.FixtureRequest) -> None:
    """A job that has written PostgreSQL with the writer's credentials (deployed if none runs)."""
    running = [
        j for j in stack.flink("/jobs/overview")["jobs"] if j["state"] in ("RUNNING", "FINISHED")
    ]
    if not running:
        request.getfixturevalue("deployment")

    def written() -> bool:
        with psycopg.connect(stack.PG_DSN) as conn:
            row = conn.execute("SELECT count(*) FROM driver_daily_pay").fetchone()
        return bool(row and row[0] > 0)

    stack.wait_for(written, 300, "the job to write PostgreSQL")


def test_every_port_of_the_stack_but_prometheus_listens_on_loopback_only(ran: None) -> None:
    pids = stack_pids()
    listening = subprocess.run(
        ["ss", "-ltnpH"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    ours: dict[int, str] = {}
    for line in listening.splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if owners & pids:
            host, _, port = line.split()[3].rpartition(":")
            ours[int(port)] = host.strip("[]")
    assert {5432, 9092, 9093, 8081, 6123} <= set(ours), ours
    exposed = {port for port, host in ours.items() if host not in LOOPBACK}
    assert exposed <= PROMETHEUS_PORTS, {p: ours[p] for p in exposed}


def test_no_password_appears_in_logs_command_lines_or_flink_answers(ran: None) -> None:
    secrets = [s.encode() for s in passwords()]
    leaks: list[str] = []
    scanned = 0
    for path in log_files():
        data = path.read_bytes()
        scanned += 1
        leaks += [str(path) for s in secrets if s in data]
    assert scanned >= 5  # flink JM/TM/client logs, kafka server log, postgres log at least
    assert any(p.name.startswith("flink-") and "client" in p.name for p in log_files())
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            data = cmdline.read_bytes()
        except OSError:
            continue
        leaks += [str(cmdline) for s in secrets if s in data]
    answers: list[str] = ["/jobmanager/config", "/jobmanager/environment", "/taskmanagers"]
    for job in stack.flink("/jobs/overview")["jobs"]:
        answers += [f"/jobs/{job['jid']}{tail}" for tail in ("", "/plan", "/config")]
    for endpoint in answers:
        with urllib.request.urlopen(stack.FLINK + endpoint, timeout=10) as response:
            body = response.read()
        leaks += [endpoint for s in secrets if s in body]
    scraped = 0
    for port in sorted(PROMETHEUS_PORTS):  # JobManager, then one port per running TaskManager
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
                body = answer.read()
        except urllib.error.URLError:
            continue  # no TaskManager for this port
        scraped += 1
        leaks += [f"prometheus :{port}" for s in secrets if s in body]
    assert scraped >= 2, "neither the JobManager's nor a TaskManager's reporter answered"
    assert not leaks
