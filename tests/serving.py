"""``driverpay serve`` as a real process on a free loopback port, for the tests that need one.

Started from this checkout's code (``python -m`` from the repository root, whatever the venv
was installed from), waited for until it answers, and stopped by its PID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 30


def free_port() -> int:
    """A loopback port nobody listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def healthy(response: httpx.Response) -> bool:
    return response.status_code == 200


@contextmanager
def serve_process(
    log_dir: Path,
    env: Mapping[str, str],
    ready_path: str = "/healthz",
    ready: Callable[[httpx.Response], bool] = healthy,
) -> Iterator[tuple[str, int]]:
    """``(base URL, port)`` once ``ready_path`` answers as ``ready`` wants; the log in ``log_dir``.

    ``env`` is added to this process's environment (the token, the read DSN, limits).
    """
    port = free_port()
    log_path = log_dir / "serve.log"
    command = [sys.executable, "-m", "driverpay.cli", "serve", "--host", "127.0.0.1"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*command, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            cwd=ROOT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, f"{base}{ready_path}", ready, log_path)
        yield base, port
    finally:
        _stop(proc)


def _wait_ready(
    proc: subprocess.Popen[bytes],
    url: str,
    ready: Callable[[httpx.Response], bool],
    log_path: Path,
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"driverpay serve exited {proc.returncode}:\n{log_path.read_text()}")
        try:
            if ready(httpx.get(url, timeout=1)):
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(
                f"driverpay serve not ready in {START_TIMEOUT_S} s:\n{log_path.read_text()}"
            )
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
