"""Which retained checkpoint folders can go, and removing them (``driverpay checkpoints prune``).

Flink keeps the newest ``num-retained`` checkpoints of each job, and keeps them after the job is
cancelled or fails (``RETAIN_ON_CANCELLATION``) so that ``recover.sh`` can resume. Every new job
(each recover, upgrade, ``make sql`` query, benchmark floor) gets a folder of its own, and Flink
never removes a finished job's folder: on the development stack they reached 76 folders and
358 MB in a week of tests. On a real day's state each is far larger.

A folder is kept when any of these holds:

- its job is not finished on the cluster (running, restarting, ...): Flink still writes there;
- it is one of the newest ``keep_jobs`` (at least 1) driverpay jobs with a completed
  checkpoint. The newest holds the checkpoint ``recover.sh`` resumes from
  (``driverpay.restore_point`` picks it the same way); the one before it is the state to roll
  back to if an upgrade goes wrong.

Everything else under ``checkpoints/`` is removed, whole folders only: an incremental
checkpoint's files live in its job's ``shared/``. A job resumed from another job's checkpoint
does not read that folder again once it completed a checkpoint of its own, because Flink
restores in ``NO_CLAIM`` mode (its default) and makes that first checkpoint a full one.
Until then the job needs it, so nothing is pruned while a driverpay job has no checkpoint of
its own. Savepoints are never removed: they are the operator's.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from driverpay.restore_point import completed, recorded_jobs
from driverpay.status import TERMINAL_STATES
from jobs.settings import JOB_NAME

DEFAULT_KEEP_JOBS = 2


@dataclass
class PrunePlan:
    """The folders to remove and, for each kept one, why it stays."""

    remove: list[Path] = field(default_factory=list)
    keep: dict[Path, str] = field(default_factory=dict)


def newest_checkpoint_mtime(job_dir: Path) -> float | None:
    """When the job's newest completed checkpoint was written; None if it completed none."""
    times = [(c / "_metadata").stat().st_mtime for c in job_dir.glob("chk-*") if completed(c)]
    return max(times, default=None)


def plan(flink_dir: Path, unfinished: set[str], keep_jobs: int = DEFAULT_KEEP_JOBS) -> PrunePlan:
    """What ``prune`` would do, given the ids of the jobs the cluster has not finished."""
    if keep_jobs < 1:
        raise ValueError("keep_jobs must be at least 1: the newest job is the one to recover")
    checkpoints = flink_dir / "checkpoints"
    folders = sorted(p for p in checkpoints.glob("*") if p.is_dir())
    result = PrunePlan()
    # without submit.sh's record every job counts, as it does for the restore point
    recorded = set(recorded_jobs(flink_dir)) or {f.name for f in folders}
    with_state = [
        (t, f) for f in folders if f.name in recorded and (t := newest_checkpoint_mtime(f))
    ]
    newest = {f for _, f in sorted(with_state, reverse=True)[:keep_jobs]}
    for folder in folders:
        if folder.name in unfinished:
            result.keep[folder] = "its job is not finished"
        elif folder in newest:
            result.keep[folder] = f"one of the {keep_jobs} newest driverpay jobs"
        else:
            result.remove.append(folder)
    return result


def folder_bytes(folder: Path) -> int:
    """The bytes of every file under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@dataclass(frozen=True)
class Job:
    """An unfinished job on the cluster, as its REST API describes it."""

    name: str
    completed_checkpoints: int


class PruneRefusedError(RuntimeError):
    """Pruning now could remove what a job still needs."""


def unfinished_jobs(rest: str, timeout_s: float = 10.0) -> dict[str, Job]:
    """Every job the cluster has not finished, whatever its name, by id.

    Raises ``httpx.HTTPError`` when the REST API does not answer: then a running job's folder
    cannot be told from a dead one's, and nothing may be removed on a guess.
    """
    import httpx

    with httpx.Client(base_url=rest, timeout=timeout_s) as client:
        answer = client.get("/jobs/overview")
        answer.raise_for_status()
        jobs = [j for j in answer.json()["jobs"] if j["state"] not in TERMINAL_STATES]
        found = {}
        for job in jobs:
            checkpoints = client.get(f"/jobs/{job['jid']}/checkpoints")
            done = checkpoints.json()["counts"]["completed"] if checkpoints.is_success else 0
            found[job["jid"]] = Job(job["name"], int(done))
    return found


def _resuming(jobs: Mapping[str, Job]) -> list[str]:
    """Driverpay jobs without a checkpoint of their own: they may need the one they resumed from.

    Flink restores in ``NO_CLAIM`` mode, so a resumed job depends on the checkpoint it started
    from until its own first (full) checkpoint completes; until then a failure restores from
    that checkpoint again. Which one it was is not known before the job is running, so pruning
    waits for every resumed job's first checkpoint.
    """
    return [
        jid for jid, job in jobs.items() if job.name == JOB_NAME and not job.completed_checkpoints
    ]


def prune(
    flink_dir: Path, ask: Callable[[], Mapping[str, Job]], keep_jobs: int, dry_run: bool
) -> tuple[PrunePlan, int]:
    """Plan, then remove what is still unowned; the plan and the bytes freed (or to be).

    ``ask`` gives the cluster's unfinished jobs. It is asked again after planning: a job
    submitted meanwhile may have made its folder after the first answer, and must keep it.
    Raises ``PruneRefusedError`` while a driverpay job has no checkpoint of its own yet.
    """
    jobs = ask()
    if waiting := _resuming(jobs):
        raise PruneRefusedError(
            f"job {waiting[0]} has not completed a checkpoint of its own yet and may still need "
            "the one it resumed from: prune once it has (every 10 s by default)"
        )
    todo = plan(flink_dir, set(jobs), keep_jobs)
    started = ask()
    for folder in [f for f in todo.remove if f.name in started]:
        todo.remove.remove(folder)
        todo.keep[folder] = "its job started while pruning"
    freed = sum(folder_bytes(f) for f in todo.remove)
    if not dry_run:
        for folder in todo.remove:
            shutil.rmtree(folder)
    return todo, freed
