"""Pruning retained checkpoints keeps what a recovery, a rollback or a running job needs.

Folders are real, laid out as Flink writes them (``checkpoints/<job>/chk-N/_metadata``, with
the newest checkpoint's time as the file's mtime); only the cluster's answer is given.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from driverpay.checkpoint_prune import Job, PruneRefusedError, plan, prune
from driverpay.restore_point import JOBS_FILE, latest_restore_point

MONDAY, TUESDAY, WEDNESDAY, THURSDAY = 1_700_000_000, 1_700_086_400, 1_700_172_800, 1_700_259_200
OLD_JOB, YESTERDAYS_JOB, TODAYS_JOB, SQL_QUERY, JUST_SUBMITTED = (f"{n:032x}" for n in range(1, 6))


def checkpoint(flink: Path, job: str, n: int, at: float, size: int = 1000) -> Path:
    chk = flink / "checkpoints" / job / f"chk-{n}"
    chk.mkdir(parents=True)
    (chk / "_metadata").write_bytes(b"m" * size)
    os.utime(chk / "_metadata", (at, at))
    (flink / "checkpoints" / job / "shared").mkdir(exist_ok=True)
    return chk


def record(flink: Path, *jobs: str) -> None:
    (flink / JOBS_FILE).write_text("".join(f"{j}\n" for j in jobs))


@pytest.fixture
def a_week_of_jobs(tmp_path: Path) -> Path:
    """Three driverpay jobs, one a day, a cancelled SQL query, and a savepoint of Monday's job."""
    flink = tmp_path / "flink"
    checkpoint(flink, OLD_JOB, 7, MONDAY)
    checkpoint(flink, YESTERDAYS_JOB, 3, TUESDAY)
    checkpoint(flink, TODAYS_JOB, 12, WEDNESDAY)
    checkpoint(flink, SQL_QUERY, 1, THURSDAY)
    savepoint = flink / "savepoints" / "savepoint-000001-abc"
    savepoint.mkdir(parents=True)
    (savepoint / "_metadata").write_bytes(b"s")
    os.utime(savepoint / "_metadata", (MONDAY, MONDAY))
    record(flink, OLD_JOB, YESTERDAYS_JOB, TODAYS_JOB)
    return flink


def nothing_runs() -> dict[str, Job]:
    return {}


def names(folders: Iterable[Path]) -> set[str]:
    return {f.name for f in folders}


def test_older_driverpay_jobs_and_other_jobs_go_and_the_two_newest_stay(
    a_week_of_jobs: Path,
) -> None:
    todo = plan(a_week_of_jobs, unfinished=set(), keep_jobs=2)
    assert names(todo.remove) == {OLD_JOB, SQL_QUERY}
    assert names(todo.keep) == {YESTERDAYS_JOB, TODAYS_JOB}


def test_the_restore_point_survives_a_prune_down_to_one_job(a_week_of_jobs: Path) -> None:
    before = latest_restore_point(a_week_of_jobs)
    prune(a_week_of_jobs, nothing_runs, keep_jobs=1, dry_run=False)
    assert before is not None
    assert before.parent.name == TODAYS_JOB
    assert latest_restore_point(a_week_of_jobs) == before
    assert names((a_week_of_jobs / "checkpoints").iterdir()) == {TODAYS_JOB}


def test_savepoints_are_never_removed(a_week_of_jobs: Path) -> None:
    prune(a_week_of_jobs, nothing_runs, keep_jobs=1, dry_run=False)
    assert (a_week_of_jobs / "savepoints" / "savepoint-000001-abc" / "_metadata").is_file()


def test_a_running_job_keeps_its_folder_before_its_first_checkpoint(a_week_of_jobs: Path) -> None:
    (a_week_of_jobs / "checkpoints" / JUST_SUBMITTED).mkdir()
    todo = plan(a_week_of_jobs, unfinished={JUST_SUBMITTED, OLD_JOB}, keep_jobs=1)
    assert names(todo.keep) == {JUST_SUBMITTED, OLD_JOB, TODAYS_JOB}
    assert names(todo.remove) == {YESTERDAYS_JOB, SQL_QUERY}


def test_a_job_submitted_while_pruning_keeps_the_folder_it_just_made(a_week_of_jobs: Path) -> None:
    (a_week_of_jobs / "checkpoints" / JUST_SUBMITTED).mkdir()
    answers = iter([{}, {JUST_SUBMITTED: Job("driverpay", 0)}])
    todo, _ = prune(a_week_of_jobs, lambda: next(answers), keep_jobs=2, dry_run=False)
    assert (a_week_of_jobs / "checkpoints" / JUST_SUBMITTED).is_dir()
    assert JUST_SUBMITTED not in names(todo.remove)


def test_a_dry_run_reports_the_same_folders_and_bytes_and_removes_nothing(
    a_week_of_jobs: Path,
) -> None:
    dry, dry_freed = prune(a_week_of_jobs, nothing_runs, keep_jobs=2, dry_run=True)
    assert names((a_week_of_jobs / "checkpoints").iterdir()) >= {OLD_JOB, SQL_QUERY}
    done, freed = prune(a_week_of_jobs, nothing_runs, keep_jobs=2, dry_run=False)
    assert names(dry.remove) == names(done.remove) == {OLD_JOB, SQL_QUERY}
    assert dry_freed == freed == 2000
    assert not (a_week_of_jobs / "checkpoints" / OLD_JOB).exists()


def test_without_submits_record_every_job_counts_as_driverpays(a_week_of_jobs: Path) -> None:
    (a_week_of_jobs / JOBS_FILE).unlink()
    todo = plan(a_week_of_jobs, unfinished=set(), keep_jobs=2)
    assert names(todo.keep) == {SQL_QUERY, TODAYS_JOB}
    assert names(todo.remove) == {OLD_JOB, YESTERDAYS_JOB}


def test_nothing_is_pruned_while_a_resumed_job_has_no_checkpoint_of_its_own(
    a_week_of_jobs: Path,
) -> None:
    """It may still need the checkpoint it resumed from: Flink restores in NO_CLAIM mode."""
    (a_week_of_jobs / "checkpoints" / JUST_SUBMITTED).mkdir()
    resumed = {JUST_SUBMITTED: Job("driverpay", completed_checkpoints=0)}
    with pytest.raises(PruneRefusedError, match=JUST_SUBMITTED):
        prune(a_week_of_jobs, lambda: resumed, keep_jobs=1, dry_run=False)
    assert names((a_week_of_jobs / "checkpoints").iterdir()) == {
        OLD_JOB,
        YESTERDAYS_JOB,
        TODAYS_JOB,
        SQL_QUERY,
        JUST_SUBMITTED,
    }


def test_once_it_has_one_the_older_jobs_go(a_week_of_jobs: Path) -> None:
    checkpoint(a_week_of_jobs, JUST_SUBMITTED, 1, THURSDAY + 60)
    record(a_week_of_jobs, OLD_JOB, YESTERDAYS_JOB, TODAYS_JOB, JUST_SUBMITTED)
    running = {JUST_SUBMITTED: Job("driverpay", completed_checkpoints=1)}
    todo, _ = prune(a_week_of_jobs, lambda: running, keep_jobs=1, dry_run=False)
    assert names(todo.keep) == {JUST_SUBMITTED}
    assert names((a_week_of_jobs / "checkpoints").iterdir()) == {JUST_SUBMITTED}


def test_an_ad_hoc_query_without_checkpoints_does_not_hold_pruning_up(
    a_week_of_jobs: Path,
) -> None:
    query = {SQL_QUERY: Job("insert-into_default_catalog.default_database.x", 0)}
    todo, _ = prune(a_week_of_jobs, lambda: query, keep_jobs=2, dry_run=False)
    assert names(todo.remove) == {OLD_JOB}
    assert (a_week_of_jobs / "checkpoints" / SQL_QUERY).is_dir()


def test_keeping_no_job_at_all_is_refused(a_week_of_jobs: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        plan(a_week_of_jobs, unfinished=set(), keep_jobs=0)


def prune_command(flink: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DRIVERPAY_FLINK_REST": "http://127.0.0.1:9"}  # nothing listens there
    command = [sys.executable, "-m", "driverpay.cli", "checkpoints", "prune", "--flink-dir"]
    return subprocess.run(
        [*command, str(flink), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_with_the_cluster_unreachable_nothing_is_removed_on_a_guess(a_week_of_jobs: Path) -> None:
    answer = prune_command(a_week_of_jobs)
    assert answer.returncode == 1
    assert "--cluster-stopped" in answer.stderr
    assert names((a_week_of_jobs / "checkpoints").iterdir()) == {
        OLD_JOB,
        YESTERDAYS_JOB,
        TODAYS_JOB,
        SQL_QUERY,
    }


def test_a_cluster_stopped_on_purpose_is_pruned_and_the_freed_bytes_printed(
    a_week_of_jobs: Path,
) -> None:
    answer = prune_command(a_week_of_jobs, "--cluster-stopped")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "removed 2 folders (0.0 MB), kept 2"
    assert names((a_week_of_jobs / "checkpoints").iterdir()) == {YESTERDAYS_JOB, TODAYS_JOB}
