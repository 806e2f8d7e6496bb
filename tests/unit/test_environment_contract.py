"""The job's environment, named once in jobs/settings.py, is the one contracts §9 promises.

A rename or a new default in code fails here, not at a user.
"""

from __future__ import annotations

import re
from pathlib import Path

from driverpay.job_start import JOB_ENVIRONMENT
from jobs import settings
from jobs.endpoints import DEFAULT_PG_DSN

CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"


def environment_table() -> dict[str, str]:
    """§9's rows: variable -> its default cell, as written."""
    text = CONTRACTS.read_text(encoding="utf-8")
    section = text.split("## 9. Environment", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z_]+)` \| (.+) \|$", section, flags=re.MULTILINE)
    return dict(rows)


def test_every_variable_the_job_reads_is_a_row_of_the_contract_with_the_codes_default() -> None:
    table = environment_table()
    defaults = {
        settings.KAFKA_ENV: settings.DEFAULT_KAFKA,
        settings.PG_DSN_ENV: DEFAULT_PG_DSN,
        settings.GROUP_ID_ENV: settings.DEFAULT_GROUP_ID,
        settings.ZONES_ENV: settings.DEFAULT_ZONES,
        settings.ARCHIVE_ENV: settings.DEFAULT_ARCHIVE,
    }
    for name, default in defaults.items():
        assert table[name] == f"`{default}`", name
    assert table[settings.PARALLELISM_ENV] == str(settings.DEFAULT_CLUSTER_PARALLELISM)


def test_a_submitted_job_records_every_variable_it_is_built_from() -> None:
    table = environment_table()
    built_from = {
        settings.KAFKA_ENV,
        settings.PG_DSN_ENV,
        settings.GROUP_ID_ENV,
        settings.ZONES_ENV,
        settings.ARCHIVE_ENV,
        settings.PARALLELISM_ENV,
    }
    assert built_from <= set(JOB_ENVIRONMENT)
    assert set(JOB_ENVIRONMENT) <= set(table)
