"""Control of the local stack (scripts/stack): reset topics and tables, submit, read Flink REST.

Shared by the stack tests (tests/stack/stack.py re-exports these) and ``driverpay.bench``.
Every call here talks to the real services; on a shared machine run callers under the stack
lock (README, "Benchmark").
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from confluent_kafka.admin import AdminClient, NewTopic

from driverpay import topics
from driverpay.paths import ROOT, RUN
from driverpay.secrets import ensure_pgpassfile_env
from driverpay.status import TERMINAL_STATES
from jobs.endpoints import DEFAULT_PG_DSN
from jobs.settings import DEFAULT_KAFKA, GROUP_ID_ENV

KAFKA = DEFAULT_KAFKA
PG_DSN = DEFAULT_PG_DSN
# TRUNCATE is the owner's privilege only (the job's writer role cannot empty pay tables)
PG_OWNER_DSN = "postgresql://driverpay_owner@127.0.0.1:5432/driverpay"
FLINK = "http://127.0.0.1:8081"
TOPICS = topics.PARTITIONS
T = TypeVar("T")


def flink(path: str, method: str = "GET") -> Any:
    """One call to the Flink REST API."""
    request = urllib.request.Request(FLINK + path, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


def cancel_jobs() -> None:
    """Cancel every running job and wait until none is running."""
    for job in flink("/jobs/overview")["jobs"]:
        if job["state"] not in TERMINAL_STATES:
            flink(f"/jobs/{job['jid']}?mode=cancel", method="PATCH")
    wait_for(
        lambda: not [
            j for j in flink("/jobs/overview")["jobs"] if j["state"] not in TERMINAL_STATES
        ],
        timeout=60,
        what="jobs to cancel",
    )


def cancel_job(job: str, timeout: float = 60) -> None:
    """Cancel one job (only that one) and wait until it has stopped."""
    if flink(f"/jobs/{job}")["state"] not in TERMINAL_STATES:
        flink(f"/jobs/{job}?mode=cancel", method="PATCH")
    wait_for(lambda: flink(f"/jobs/{job}")["state"] in TERMINAL_STATES, timeout, f"{job} to cancel")


def reset_topics() -> None:
    """Delete and recreate the project topics, so each run starts from an empty log."""
    admin = AdminClient({"bootstrap.servers": KAFKA})
    existing = set(admin.list_topics(timeout=10).topics)
    doomed = [t for t in TOPICS if t in existing]
    for future in admin.delete_topics(doomed, operation_timeout=30).values():
        future.result()
    wait_for(
        lambda: not set(TOPICS) & set(admin.list_topics(timeout=10).topics),
        60,
        "topics to be deleted",
    )
    new = [
        NewTopic(t, num_partitions=p, replication_factor=1, config=topics.CONFIGS.get(t, {}))
        for t, p in TOPICS.items()
    ]
    for future in admin.create_topics(new, operation_timeout=30).values():
        future.result()


def pg_connect(dsn: str = PG_DSN, autocommit: bool = False) -> psycopg.Connection[Any]:
    """A connection with the stack's password file (``PGPASSFILE``, unless one is set)."""
    ensure_pgpassfile_env()
    return psycopg.connect(dsn, autocommit=autocommit)


def reset_tables() -> None:
    """Empty the read model."""
    with pg_connect(PG_OWNER_DSN) as conn:
        conn.execute("TRUNCATE pay_lines, driver_daily_pay")


def submit(group_id: str, extra: list[str] | None = None, env: dict[str, str] | None = None) -> str:
    """``make submit`` with a fresh consumer group (``extra``: flink run options); the job id.

    ``env`` adds environment variables for the job (e.g. ``DRIVERPAY_PARALLELISM``).
    """
    overrides = {GROUP_ID_ENV: group_id, "PATH": "/usr/bin:/bin", **(env or {})}
    out = subprocess.run(
        [str(ROOT / "scripts/stack/submit.sh"), *(extra or [])],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **overrides},
        check=True,
    )
    return job_id_from(out.stdout, out.stderr)


def scale_taskmanagers(count: int) -> None:
    """``flink.sh scale count``: that many TaskManagers (2 slots each), kept by the watchdog."""
    subprocess.run(
        [str(ROOT / "scripts/stack/flink.sh"), "scale", str(count)],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )


def job_id_from(stdout: str, stderr: str = "") -> str:
    """The job id that ``flink run`` prints ("... submitted with JobID <id>")."""
    for line in stdout.splitlines():
        if "JobID" in line:
            return line.split()[-1]
    raise AssertionError(f"no job id in submit output: {stdout}\n{stderr}")


def pg_run_dir() -> Path:
    """The folder of this checkout's PostgreSQL cluster, as ``postgres.sh`` chose it.

    It is ``.run/pg`` unless the OS user postgres cannot enter the checkout (a ``mktemp -d``
    clone, a home folder as root); the script then keeps the cluster under /var/tmp.
    """
    script = ROOT / "scripts/stack/postgres.sh"
    out = subprocess.run([script, "dir"], capture_output=True, text=True, check=True, timeout=60)
    return Path(out.stdout.strip())


def taskmanager_pids() -> list[int]:
    """The live TaskManager processes of the local cluster (PID file checked against /proc)."""
    pids = []
    for pid_file in (RUN / "flink" / "pid").glob("*taskexecutor*.pid"):
        for line in pid_file.read_text().split():
            cmdline = Path(f"/proc/{line}/cmdline")
            if cmdline.exists() and b"TaskManagerRunner" in cmdline.read_bytes():
                pids.append(int(line))
    return pids


def wait_for(check: Callable[[], T], timeout: float, what: str, every: float = 1.0) -> T:
    """Poll ``check`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)
