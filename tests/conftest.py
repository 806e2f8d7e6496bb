"""Services shared by test folders; each is started only if not running, stopped only if started."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from driverpay.secrets import ensure_pgpassfile_env

ROOT = Path(__file__).resolve().parents[1]
PG_SCRIPT = ROOT / "scripts" / "stack" / "postgres.sh"
# libpq (psycopg, psql, the API, the submitted job) reads the roles' passwords from here
ensure_pgpassfile_env()
# `driverpay serve` started by tests checks answers, not throttling (test_api_security does)
os.environ.setdefault("DRIVERPAY_API_RATE", "1000")
os.environ.setdefault("DRIVERPAY_API_BURST", "1000")


def _postgres_running() -> bool:
    status = subprocess.run([PG_SCRIPT, "status"], capture_output=True, text=True, check=False)
    return status.returncode == 0


@pytest.fixture(scope="session")
def postgres() -> Iterator[None]:
    """PostgreSQL on 127.0.0.1:5432, for the read API and the stack tests alike.

    Set up before, and torn down after, every fixture that uses it, so no test loses its
    database to another folder's clean-up.
    """
    started = False
    if not _postgres_running():
        result = subprocess.run(
            [PG_SCRIPT, "start"], capture_output=True, text=True, timeout=300, check=False
        )
        if result.returncode != 0:
            pytest.fail(f"postgres.sh start failed:\n{result.stderr}")
        started = True
    try:
        yield
    finally:
        if started:
            subprocess.run([PG_SCRIPT, "stop"], capture_output=True, timeout=120, check=False)
