"""Which retained checkpoint or savepoint ``scripts/stack/recover.sh`` resumes the job from.

The cluster keeps the checkpoints of every job it ran (retained on cancellation and failure):
ad-hoc ``make sql`` queries, long-cancelled test jobs. Resuming from the newest of *any* of them
would give the job another job's state and offsets. ``submit.sh`` records the id of each
driverpay job it submits in ``JOBS_FILE``; the restore point is the newest completed checkpoint
of one of those, or the newest completed savepoint (``savepoint.sh`` takes them of driverpay
jobs only), whichever was completed last: after ``make upgrade`` the new job may have no
checkpoint yet, and its savepoint is then the newest state.

``python -m driverpay.restore_point FLINK_DIR`` prints the path, or exits 1 with a reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

JOBS_FILE = "driverpay-jobs"  # one job id per line, appended by scripts/stack/submit.sh


def completed(folder: Path) -> bool:
    """A checkpoint or savepoint folder is usable once Flink wrote its ``_metadata``."""
    return (folder / "_metadata").is_file()


def recorded_jobs(flink_dir: Path) -> list[str]:
    """The driverpay jobs ``submit.sh`` recorded, oldest first; empty without a record."""
    record = flink_dir / JOBS_FILE
    return list(dict.fromkeys(record.read_text().split())) if record.is_file() else []


def latest_restore_point(flink_dir: Path) -> Path | None:
    """The newest completed checkpoint of a recorded driverpay job, or savepoint; else None.

    Without a record (a cluster from before submit.sh kept one), every job's checkpoints count,
    as they did then.
    """
    checkpoints = flink_dir / "checkpoints"
    recorded = recorded_jobs(flink_dir)
    jobs = [checkpoints / job for job in recorded] if recorded else sorted(checkpoints.glob("*"))
    candidates = [chk for job in jobs for chk in job.glob("chk-*") if completed(chk)]
    candidates += [sp for sp in (flink_dir / "savepoints").glob("savepoint-*") if completed(sp)]
    return max(candidates, key=lambda p: (p / "_metadata").stat().st_mtime, default=None)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m driverpay.restore_point FLINK_DIR")
    found = latest_restore_point(Path(sys.argv[1]))
    if found is None:
        sys.exit(f"no completed checkpoint or savepoint of a driverpay job under {sys.argv[1]}")
    print(found)
