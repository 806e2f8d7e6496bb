"""Session fixtures for the real stack: Kafka, PostgreSQL and a Flink cluster as local processes."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from driverpay.generate import GenConfig, generate
from driverpay.produce import produce, read_lines
from tests.stack import stack
from udfs.zones import load_zones

pytestmark = pytest.mark.stack


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def real_stack(postgres: None) -> Iterator[None]:
    """Kafka and a Flink cluster (PostgreSQL comes from ``postgres``), started unless already up.

    Only what this fixture started is stopped afterwards.
    """
    kafka_up, flink_up = _port_open(9092), _port_open(8081)
    if not (kafka_up and flink_up):
        subprocess.run([str(stack.ROOT / "scripts/stack/up.sh")], check=True, timeout=600)
    try:
        yield
    finally:
        for service, was_up in (("flink", flink_up), ("kafka", kafka_up)):
            if not was_up:
                subprocess.run(
                    [str(stack.ROOT / f"scripts/stack/{service}.sh"), "stop"],
                    check=True,
                    timeout=300,
                )


class Deployment:
    """A generated messy day, produced into Kafka and processed by the submitted job."""

    def __init__(self, work: Path) -> None:
        self.events = work / "events.jsonl"
        self.truth_path = work / "truth.json"
        self.truth: dict[str, Any] = {}
        self.job_id = ""


@pytest.fixture(scope="module")
def deployment(real_stack: None, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """Reset topics and tables, produce a messy day, ``make submit``, wait for the job to run."""
    import json

    deployment = Deployment(tmp_path_factory.mktemp("deployment"))
    config = GenConfig(seed=11, orders=1500, drivers=60)
    zones = load_zones(stack.ROOT / "config" / "zones.yaml")
    generate(config, zones, deployment.events, deployment.truth_path)
    deployment.truth = json.loads(deployment.truth_path.read_text())
    stack.cancel_jobs()
    stack.reset_topics()
    stack.reset_tables()
    produce(read_lines(deployment.events), stack.KAFKA)
    os.environ.setdefault("DRIVERPAY_ZONES", str(stack.ROOT / "config" / "zones.yaml"))
    deployment.job_id = stack.submit(group_id=f"driverpay-test-{time.time_ns()}")
    return deployment
