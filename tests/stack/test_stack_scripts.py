"""The stack's own scripts, as two operators at two shells would run them."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.stack import stack

pytestmark = pytest.mark.stack
HELD_S = 4


def test_a_second_make_up_waits_for_the_one_holding_the_stack_instead_of_racing_it(
    real_stack: None, tmp_path: Path
) -> None:
    """Two ``up.sh`` at once would both see Kafka's port free and start two brokers.

    Another shell holds ``.run/stack.lock`` (as a running ``up.sh`` or ``down.sh`` does) for
    four seconds and writes the time it lets go; ``up.sh`` must print its first line after it.
    """
    lock = stack.ROOT / ".run" / "stack.lock"
    let_go = tmp_path / "let-go"
    holder = subprocess.Popen(
        ["flock", str(lock), "sh", "-c", f"sleep {HELD_S}; date +%s.%N > {let_go}"]
    )
    try:
        stack.wait_for(
            lambda: subprocess.run(["flock", "-n", str(lock), "true"], check=False).returncode,
            10,
            "the other shell holds the lock",
        )
        up = subprocess.Popen(
            [str(stack.ROOT / "scripts/stack/up.sh")],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        assert up.stderr is not None
        first_line = up.stderr.readline()
        first_line_at = time.time()
        up.stderr.read()
        assert up.wait(timeout=300) == 0
        assert holder.wait(timeout=10) == 0
    finally:
        holder.kill()
    assert first_line.startswith("[")
    assert first_line_at >= float(let_go.read_text())
