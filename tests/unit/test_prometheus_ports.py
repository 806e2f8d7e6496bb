"""The cluster refuses more TaskManagers than the reporter's port range can give metrics to.

A TaskManager beyond the range runs, but without a metrics endpoint: invisible to
``driverpay status`` and to the alert rules. ``flink.sh scale`` and ``make upgrade`` ask
``fits_prometheus_ports`` first (upgrade before it stops anything).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def fits(taskmanagers: int, ports: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FLINK_PROM_PORTS"}
    if ports is not None:
        env["FLINK_PROM_PORTS"] = ports
    script = (
        "source scripts/stack/common.sh; source scripts/stack/flink-env.sh; "
        f"fits_prometheus_ports {taskmanagers} || "
        f"{{ prometheus_room_message {taskmanagers}; exit 3; }}"
    )
    return subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("taskmanagers", [1, 2, 3])
def test_the_default_range_gives_up_to_three_taskmanagers_a_port(taskmanagers: int) -> None:
    assert fits(taskmanagers).returncode == 0


def test_a_fourth_taskmanager_is_refused_with_the_range_to_widen() -> None:
    refused = fits(4)
    assert refused.returncode == 3
    assert "9249-9252 has room for 3 TaskManagers, not 4" in refused.stdout
    assert "FLINK_PROM_PORTS" in refused.stdout


def test_a_wider_range_makes_room() -> None:
    assert fits(8, ports="9249-9260").returncode == 0
    assert fits(12, ports="9249-9260").returncode == 3
