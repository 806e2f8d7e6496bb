"""Which archive ``recompute`` and ``reconcile`` read when ``--archive`` is not given."""

from __future__ import annotations

from pathlib import Path

import pytest

from driverpay.cli import archive_path
from jobs.kafka_job import archive_path as cluster_archive

EMBEDDED_RUN = Path("/runs/2026-11-24")


def test_an_explicit_archive_wins_over_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIVERPAY_ARCHIVE", "/elsewhere")
    assert archive_path(Path("/given"), EMBEDDED_RUN) == Path("/given")


def test_the_environment_names_the_archive_as_a_folder_or_a_file_uri(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DRIVERPAY_ARCHIVE", "/data/archive")
    assert archive_path(None) == Path("/data/archive")
    monkeypatch.setenv("DRIVERPAY_ARCHIVE", "file:///data/raw%20events")
    assert archive_path(None, EMBEDDED_RUN) == Path("/data/raw events")


def test_a_reconcile_against_an_embedded_run_reads_that_runs_archive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DRIVERPAY_ARCHIVE", raising=False)
    assert archive_path(None, EMBEDDED_RUN) == EMBEDDED_RUN / "archive"


def test_without_either_it_reads_where_the_cluster_job_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DRIVERPAY_ARCHIVE", raising=False)
    root = Path(__file__).resolve().parents[2]
    assert root / archive_path(None) == Path(cluster_archive().removeprefix("file://"))
