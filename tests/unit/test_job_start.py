"""recover.sh and upgrade.sh resubmit the job with the settings it was submitted with.

The settings go through the same path as in the scripts: ``save`` in the submitting
environment, ``load`` printed as exports that a real bash evaluates.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from driverpay.job_start import (
    JOB_ENVIRONMENT,
    SETTINGS_FILE,
    exports,
    read_settings,
    settings_text,
)

ROOT = Path(__file__).resolve().parents[2]
SUBMITTED_WITH = {
    "DRIVERPAY_GROUP_ID": "payroll-eu",
    "DRIVERPAY_ZONES": "/etc/driverpay/zones it's.yaml",
    "DRIVERPAY_PARALLELISM": "1",
}


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``argv`` from the checkout with only PATH and ``env`` in its environment."""
    return subprocess.run(
        argv,
        env={"PATH": os.environ["PATH"], **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def job_start(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "driverpay.job_start", *args], env)


def recovering_shell(flink_dir: Path, env: dict[str, str]) -> dict[str, str]:
    """What a recover.sh shell holds after ``eval "$(... load ...)"``, for the job's names."""
    script = (
        f'eval "$({sys.executable} -m driverpay.job_start load {flink_dir})"; '
        f"for n in {' '.join(JOB_ENVIRONMENT)}; do "
        '[[ -v $n ]] && printf "%s=%s\\0" "$n" "${!n}"; done; true'
    )
    out = run(["bash", "-c", script], env).stdout
    return dict(item.split("=", 1) for item in out.split("\0") if item)


def test_a_recovery_from_a_bare_shell_gets_the_submitted_group_zones_and_parallelism(
    tmp_path: Path,
) -> None:
    job_start("save", str(tmp_path), env={**SUBMITTED_WITH, "UNRELATED": "x"})
    assert recovering_shell(tmp_path, env={}) == SUBMITTED_WITH


def test_a_setting_the_recovering_shell_gives_wins_over_the_recorded_one(tmp_path: Path) -> None:
    job_start("save", str(tmp_path), env=SUBMITTED_WITH)
    held = recovering_shell(tmp_path, env={"DRIVERPAY_PARALLELISM": "4"})
    assert held == {**SUBMITTED_WITH, "DRIVERPAY_PARALLELISM": "4"}


def test_a_setting_left_unset_at_submit_stays_unset(tmp_path: Path) -> None:
    job_start("save", str(tmp_path), env={"DRIVERPAY_GROUP_ID": "payroll-eu"})
    assert recovering_shell(tmp_path, env={}) == {"DRIVERPAY_GROUP_ID": "payroll-eu"}


def test_without_a_record_nothing_is_exported(tmp_path: Path) -> None:
    assert job_start("load", str(tmp_path), env={}).stdout == ""


def test_the_record_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """The DSN may carry a password (discouraged, but the job accepts it)."""
    job_start("save", str(tmp_path), env={"DRIVERPAY_PG_DSN": "postgresql://u:secret@h/db"})
    mode = stat.S_IMODE((tmp_path / SETTINGS_FILE).stat().st_mode)
    assert mode == 0o600


@given(st.dictionaries(st.sampled_from(JOB_ENVIRONMENT), st.text()))
def test_any_value_comes_back_as_it_was_written(settings: dict[str, str]) -> None:
    assert read_settings(settings_text(settings)) == settings


def test_a_name_outside_the_jobs_settings_is_not_exported() -> None:
    recorded = read_settings('{"LD_PRELOAD": "/tmp/evil.so", "DRIVERPAY_GROUP_ID": "g"}')
    assert exports(recorded, {}) == {"DRIVERPAY_GROUP_ID": "g"}
