"""The TaskManager watchdog replaces a TaskManager whose embedded Python can no longer start.

In thread mode a TaskManager whose first Python task was cancelled while pemja's main
interpreter started (a job restarting in a loop during a PostgreSQL outage) fails every later
Python task with the same ``InterruptedException``: the job would restart forever on it
(scripts/stack/flink.sh, ``wedged_tms``). The watchdog reads each TaskManager's own log for
that failure and restarts the process. The failure itself cannot be provoked on demand, so the
test writes the line pemja leaves in the log and checks what the watchdog does with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stack import stack

pytestmark = pytest.mark.stack
PEMJA_FAILURE = (
    "\tat pemja.core.PythonInterpreter$MainInterpreter.initialize(PythonInterpreter.java:406)"
)


def log_file(pid: int) -> Path:
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    [found] = [a[len(b"-Dlog.file=") :] for a in args if a.startswith(b"-Dlog.file=")]
    return Path(found.decode())


def test_a_taskmanager_that_cannot_start_python_is_restarted(real_stack: None) -> None:
    before = stack.wait_for(stack.taskmanager_pids, 120, "a live TaskManager")
    victim = before[0]
    with log_file(victim).open("a") as log:
        log.write("java.lang.Error: java.lang.InterruptedException\n" + PEMJA_FAILURE + "\n")

    def replaced() -> list[int]:
        pids = stack.taskmanager_pids()
        return pids if victim not in pids and len(pids) >= len(before) else []

    after = stack.wait_for(replaced, 120, "the watchdog to replace the wedged TaskManager")
    assert victim not in after
    watchdog_log = (stack.ROOT / ".run/flink/log/watchdog.log").read_text()
    assert f"taskmanager {victim} cannot start Python any more" in watchdog_log
    stack.wait_for(
        lambda: stack.flink("/overview")["taskmanagers"] >= len(before),
        120,
        "the new TaskManager to register",
    )
