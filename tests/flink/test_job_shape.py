"""The job's shape: each step is one Python stage, keyed and stamped in the JVM.

Every record that crosses from the JVM into Python and back costs more than the work most
stages do with it (docs/design.md, "Throughput"), so the graph is checked, not just the
output: a Python key selector (PyFlink's ``_stream_key_by_map_operator``) or a Python map in
front of the archive would pass every correctness test and silently add a crossing per event.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyflink.common.typeinfo import Types

from jobs.archive import attach_archive
from jobs.compat import SUPPORTED, check_version
from jobs.embedded import FileSinks, local_environment
from jobs.functions import decode_staged_line
from jobs.pipeline import build_pipeline
from jobs.settings import JobSettings
from udfs.zones import load_zones

pytestmark = pytest.mark.flink
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    """The execution plan of the embedded job at parallelism 1, archive included (not run)."""
    return build_plan(tmp_path_factory.mktemp("shape"), JobSettings())


def build_plan(tmp: Path, settings: JobSettings) -> list[dict[str, object]]:
    """The execution plan of the embedded job with ``settings``, archive included (not run)."""
    env = local_environment(settings, tmp)
    raw = env.from_collection(["1\tAA=="], type_info=Types.STRING())
    zones = load_zones(ROOT / "config" / "zones.yaml")
    events = build_pipeline(raw, decode_staged_line, zones, settings, FileSinks(tmp / "parts"))
    attach_archive(env, events, (tmp / "archive").as_uri())
    return json.loads(env.get_execution_plan())["nodes"]  # type: ignore[no-any-return]


def names(plan: list[dict[str, object]]) -> list[str]:
    return [str(node["contents"]) for node in plan]


def ship_strategies(plan: list[dict[str, object]], stage: str) -> list[str]:
    """How records reach ``stage`` from each of its inputs (HASH: shuffled by key)."""
    [node] = [n for n in plan if n["contents"] == stage]
    return [str(p["ship_strategy"]) for p in node["predecessors"]]  # type: ignore[attr-defined]


def test_at_parallelism_1_the_lines_reach_the_daily_stage_without_a_shuffle(
    plan: list[dict[str, object]],
) -> None:
    # every key is on the one subtask: the daily stage chains into the lifecycle's thread
    assert ship_strategies(plan, "daily-totals") == ["FORWARD"]
    assert ship_strategies(plan, "order-lifecycle") == ["HASH", "BROADCAST"]


def test_at_parallelism_2_the_lines_are_shuffled_to_their_driver_day(tmp_path: Path) -> None:
    plan = build_plan(tmp_path, JobSettings(parallelism=2))
    assert ship_strategies(plan, "daily-totals") == ["HASH"]


def test_keying_adds_no_python_stage(plan: list[dict[str, object]]) -> None:
    assert not [n for n in names(plan) if "key_by" in n or "key-by" in n]


def test_between_the_source_and_the_lifecycle_only_the_parser_runs_python(plan) -> None:
    first = names(plan)
    start = first.index("parse-validate")
    assert first[start : first.index("order-lifecycle")] == [
        "parse-validate",
        "Timestamps/Watermarks",  # Java: the parser's stream clock is the timestamp
        "event-time",  # Java: drops the timestamp field
        "Source: zones-versions",
    ]


def test_the_archive_projects_the_parsed_event_in_sql_without_a_python_map(plan) -> None:
    archive = [n for n in names(plan) if "Calc" in n and "event_date" in n]
    assert archive, "the archive's projection of the dated event"
    assert "archive-local-date" not in names(plan)


def test_the_internals_refuse_a_pyflink_they_were_not_checked_against() -> None:
    check_version(SUPPORTED[0])
    with pytest.raises(RuntimeError, match="re-check its internals"):
        check_version("2.3.0")
