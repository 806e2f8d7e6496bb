"""recover.sh resumes the driverpay job from its own newest state, never another job's."""

from __future__ import annotations

import os
from pathlib import Path

from driverpay.restore_point import JOBS_FILE, latest_restore_point

DRIVERPAY_OLD, DRIVERPAY_NOW, SQL_QUERY = "a" * 32, "b" * 32, "c" * 32
# When each folder's _metadata was written (seconds since the epoch)
MONDAY, TUESDAY, WEDNESDAY, THURSDAY = 1_700_000_000, 1_700_086_400, 1_700_172_800, 1_700_259_200


def state(folder: Path, written: int, complete: bool = True) -> Path:
    folder.mkdir(parents=True)
    if complete:
        (folder / "_metadata").write_bytes(b"meta")
        os.utime(folder / "_metadata", (written, written))
    return folder


def recorded(flink: Path, *jobs: str) -> None:
    (flink / JOBS_FILE).write_text("".join(f"{job}\n" for job in jobs))


def test_another_jobs_newer_checkpoint_is_not_resumed_from(tmp_path: Path) -> None:
    ours = state(tmp_path / "checkpoints" / DRIVERPAY_NOW / "chk-7", TUESDAY)
    state(tmp_path / "checkpoints" / SQL_QUERY / "chk-90", THURSDAY)  # a make sql query
    recorded(tmp_path, DRIVERPAY_OLD, DRIVERPAY_NOW)
    assert latest_restore_point(tmp_path) == ours


def test_the_savepoint_of_an_upgrade_wins_while_the_new_job_has_no_checkpoint(
    tmp_path: Path,
) -> None:
    state(tmp_path / "checkpoints" / DRIVERPAY_OLD / "chk-41", MONDAY)
    upgrade = state(tmp_path / "savepoints" / "savepoint-aaaaaa-0123456789ab", TUESDAY)
    state(tmp_path / "checkpoints" / DRIVERPAY_NOW / "chk-1", WEDNESDAY, complete=False)
    recorded(tmp_path, DRIVERPAY_OLD, DRIVERPAY_NOW)
    assert latest_restore_point(tmp_path) == upgrade


def test_a_checkpoint_newer_than_the_savepoint_wins(tmp_path: Path) -> None:
    state(tmp_path / "savepoints" / "savepoint-aaaaaa-0123456789ab", TUESDAY)
    newest = state(tmp_path / "checkpoints" / DRIVERPAY_NOW / "chk-3", WEDNESDAY)
    recorded(tmp_path, DRIVERPAY_NOW)
    assert latest_restore_point(tmp_path) == newest


def test_without_a_record_every_jobs_checkpoints_count_as_before(tmp_path: Path) -> None:
    state(tmp_path / "checkpoints" / DRIVERPAY_OLD / "chk-2", MONDAY)
    newest = state(tmp_path / "checkpoints" / SQL_QUERY / "chk-5", TUESDAY)
    assert latest_restore_point(tmp_path) == newest


def test_nothing_completed_is_nothing_to_resume_from(tmp_path: Path) -> None:
    state(tmp_path / "checkpoints" / DRIVERPAY_NOW / "chk-1", MONDAY, complete=False)
    recorded(tmp_path, DRIVERPAY_NOW)
    assert latest_restore_point(tmp_path) is None
