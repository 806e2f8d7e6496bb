"""``driverpay status`` judges recorded answers of a real job; each unhealthy rule can fail it.

The fixtures under tests/unit/fixtures/status are one job's real answers on the local stack
(Flink REST, and the TaskManager's Prometheus lines for ``driverpay.*``, long labels dropped),
recorded 12 s apart at parallelism 2 after 800 orders: the healthy instant every case varies.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from driverpay import status
from driverpay.reconcile import Report, write_metrics
from driverpay.status import (
    CounterView,
    PartitionLag,
    ReconcileView,
    Snapshot,
    Thresholds,
    VertexLoad,
)

FIXTURES = Path(__file__).parent / "fixtures" / "status"
JOB_ID = "9760b059323564f9faf0d9daf97c6c48"
LIMITS = Thresholds()
DRIVERPAY = str(Path(sys.executable).parent / "driverpay")


def rest(tag: str = "b") -> dict[str, Any]:
    return json.loads((FIXTURES / f"rest-{tag}.json").read_text())


def prom(tag: str = "b") -> str:
    return (FIXTURES / f"prom-taskmanager-{tag}.txt").read_text()


def recorded_snapshot() -> Snapshot:
    """The recorded job as ``collect`` would see it, with two quiet partitions of lag."""
    answers = rest()
    return Snapshot(
        job=status.job_view(
            answers["job"], answers["checkpoints"], answers["checkpoint_config"], restarts=0
        ),
        lags=[
            PartitionLag("order-events", 0, 700, 700, 0, 0.0),
            PartitionLag("order-events", 1, 650, 660, 10, 1.0),
        ],
        vertices=status.vertex_loads(answers["vertices"].values()),
        counters=status.counter_views(
            status.driverpay_totals([prom("a")], JOB_ID),
            status.driverpay_totals([prom("b")], JOB_ID),
            12.0,
        ),
        window_s=12.0,
    )


def rules(snapshot: Snapshot, limits: Thresholds = LIMITS) -> list[str]:
    return [finding.rule for finding in status.evaluate(snapshot, limits)]


HEALTHY = recorded_snapshot()


# --- the healthy instant, read from real answers ----------------------------------------------


def test_the_recorded_running_job_is_healthy() -> None:
    assert rules(HEALTHY) == []


def test_the_job_view_reads_state_uptime_and_checkpoint_age_on_the_jobmanagers_clock() -> None:
    job = HEALTHY.job
    assert job is not None
    assert (job.job_id, job.state, job.checkpoint_interval_s) == (JOB_ID, "RUNNING", 10.0)
    assert job.uptime_s == pytest.approx(52.739)
    assert job.last_checkpoint_age_s == pytest.approx(9.099)
    assert (job.last_checkpoint_duration_ms, job.checkpoints_completed) == (67, 4)


def test_counters_are_summed_over_operators_and_subtasks_of_this_job_only() -> None:
    other_job = prom().replace(JOB_ID, "0" * 32)
    totals = status.driverpay_totals([prom(), other_job], JOB_ID)
    assert totals["events_valid"] == 2623
    assert totals["events_malformed"] == 25
    assert totals["duplicates"] == 125
    assert totals["poison_records"] == 0


def test_state_held_is_read_from_rocksdb_key_estimates_not_from_a_counter() -> None:
    """A counter kept by the job restarts at zero while restored state still holds orders.

    After ``make upgrade`` the old ``open_orders`` counter read -1,969 on a live stack.
    """
    totals = status.driverpay_totals([prom()], JOB_ID)
    assert (totals["open_orders"], totals["open_driver_days"]) == (23, 16)
    assert status.driverpay_totals([prom().replace(JOB_ID, "0" * 32)], JOB_ID) == {}


def test_every_counter_the_readme_names_is_reported_even_when_the_job_has_not_registered_it() -> (
    None
):
    views = status.counter_views(None, {"events_valid": 5.0}, 0.0)
    assert set(status.KEY_COUNTERS) <= set(views)
    assert views["poison_records"] == CounterView("poison_records", 0.0, None)


def test_rates_are_the_change_between_two_samples_per_second() -> None:
    views = status.counter_views({"events_valid": 100.0}, {"events_valid": 400.0}, 10.0)
    assert views["events_valid"].rate_per_s == 30.0
    assert views["late_events"].rate_per_s is None  # absent from the first sample: no rate


def test_the_newest_live_driverpay_job_is_chosen_and_a_cancelled_one_when_none_is_live() -> None:
    jobs = [
        {"jid": "old", "name": "driverpay", "state": "CANCELED", "start-time": 3},
        {"jid": "live", "name": "driverpay", "state": "RUNNING", "start-time": 2},
        {"jid": "other", "name": "someone-else", "state": "RUNNING", "start-time": 4},
    ]
    assert status.pick_job({"jobs": jobs}) == "live"
    assert status.pick_job({"jobs": [jobs[0], jobs[2]]}) == "old"
    assert status.pick_job({"jobs": [jobs[2]]}) is None
    assert status.pick_job({"jobs": jobs}, "old") == "old"


# --- each unhealthy rule ----------------------------------------------------------------------


def test_no_driverpay_job_is_unhealthy() -> None:
    assert rules(Snapshot(job=None)) == ["job"]


def test_a_cancelled_job_is_unhealthy() -> None:
    assert HEALTHY.job is not None
    assert rules(replace(HEALTHY, job=replace(HEALTHY.job, state="CANCELED"))) == ["job"]


def test_a_checkpoint_older_than_three_intervals_is_unhealthy() -> None:
    assert HEALTHY.job is not None
    stale = replace(HEALTHY, job=replace(HEALTHY.job, last_checkpoint_age_s=31.0))
    assert rules(stale) == ["checkpoint"]
    assert rules(stale, replace(LIMITS, checkpoint_intervals=4)) == []


def test_no_checkpoint_yet_is_fine_at_first_and_unhealthy_after_three_intervals() -> None:
    assert HEALTHY.job is not None
    young = replace(HEALTHY.job, last_checkpoint_age_s=None, uptime_s=20.0)
    assert rules(replace(HEALTHY, job=young)) == []
    assert rules(replace(HEALTHY, job=replace(young, uptime_s=45.0))) == ["checkpoint"]


def test_a_single_poison_record_is_unhealthy() -> None:
    counters = {**HEALTHY.counters, "poison_records": CounterView("poison_records", 1.0, 0.1)}
    assert rules(replace(HEALTHY, counters=counters)) == ["poison"]


def test_lag_over_the_threshold_is_unhealthy() -> None:
    lags = [PartitionLag("order-events", p, 0, 6_000, 6_000, 0.0) for p in range(2)]
    assert rules(replace(HEALTHY, lags=lags)) == ["lag"]


def test_lag_growing_faster_than_the_threshold_is_unhealthy_even_while_small() -> None:
    lags = [PartitionLag("order-events", p, 0, 1_500, 1_500, 150.0) for p in range(2)]
    assert rules(replace(HEALTHY, lags=lags)) == ["lag-growth"]


def test_a_reconcile_delta_is_unhealthy_and_a_clean_reconcile_is_not() -> None:
    clean = ReconcileView("2026-11-23", None, "2026-11-23@x", 0, {}, 0)
    delta = ReconcileView("2026-11-24", None, "2026-11-24@x", 2, {"USD": -350}, 0)
    assert rules(replace(HEALTHY, reconciles=[clean])) == []
    findings = status.evaluate(replace(HEALTHY, reconciles=[delta, clean]), LIMITS)
    assert [f.rule for f in findings] == ["reconcile"]
    assert "2026-11-24: 2 drivers" in findings[0].message
    assert "-350 USD" in findings[0].message


def test_a_subtask_far_busier_than_the_rest_is_skew() -> None:
    hot = [
        VertexLoad(v.name, (9_000, 1_300), status.skew((9_000, 1_300)))
        if v.name.startswith("order-lifecycle")
        else v
        for v in HEALTHY.vertices
    ]
    findings = status.evaluate(replace(HEALTHY, vertices=hot), LIMITS)
    assert [f.rule for f in findings] == ["skew"]
    assert findings[0].message.startswith("order-lifecycle")


def test_skew_is_not_judged_on_a_handful_of_records() -> None:
    recorded_dlq = next(v for v in HEALTHY.vertices if v.name.startswith("kafka-order-events-dlq"))
    assert recorded_dlq.records_in == (4, 21)  # 5x, on 25 records: noise, not a hot key
    assert rules(HEALTHY) == []
    assert rules(HEALTHY, replace(LIMITS, skew_min_records=20)) == ["skew"]


def test_skew_is_the_busiest_subtask_over_the_median_of_the_others() -> None:
    assert status.skew((100, 100, 100, 900)) == 9.0
    assert status.skew((1_000, 0)) == math.inf  # one does everything: parallelism 2 at its worst
    assert status.skew((0, 0)) == 1.0
    assert status.skew((5,)) is None


def test_every_rule_broken_at_once_is_reported_once_each() -> None:
    assert HEALTHY.job is not None
    broken = replace(
        HEALTHY,
        job=replace(HEALTHY.job, last_checkpoint_age_s=300.0),
        lags=[PartitionLag("order-events", 0, 0, 50_000, 50_000, 900.0)],
        vertices=[VertexLoad("order-lifecycle", (5_000, 0), math.inf)],
        counters={"poison_records": CounterView("poison_records", 3.0)},
        reconciles=[ReconcileView("2026-11-24", "sf", "r", 1, {"USD": 5}, 0)],
    )
    assert rules(broken) == ["checkpoint", "lag", "lag-growth", "skew", "poison", "reconcile"]


# --- the pieces around the rules ---------------------------------------------------------------


def test_a_partition_never_committed_lags_from_its_first_offset_and_growth_is_per_second() -> None:
    earlier = [PartitionLag("order-events", 1, None, 100, 90)]
    lags = status.partition_lags(
        committed={("order-events", 0): 40, ("order-events", 1): None},
        low={("order-events", 0): 0, ("order-events", 1): 10},
        high={("order-events", 0): 50, ("order-events", 1): 130},
        earlier=earlier,
        window_s=10.0,
    )
    assert lags == [
        PartitionLag("order-events", 0, 40, 50, 10, None),
        PartitionLag("order-events", 1, None, 130, 120, 3.0),
    ]


def test_status_reads_the_summaries_reconcile_writes_one_per_date(tmp_path: Path) -> None:
    report = Report("2026-11-24", None, "2026-11-24@20261125T000000Z", "postgresql")
    report.deltas = [
        {
            "driver_id": "d1",
            "pay_date": "2026-11-24",
            "currency": "USD",
            "streamed_minor": 900,
            "recomputed_minor": 1000,
        },
    ]
    write_metrics(tmp_path / "2026-11-24", report)
    write_metrics(tmp_path / "2026-11-23", Report("2026-11-23", None, "r23", "postgresql"))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "reconcile-summary.json").write_text("{not json")
    views = status.read_reconciles(tmp_path)
    assert [(v.date, v.drivers_affected, v.delta_minor_by_currency) for v in views] == [
        ("2026-11-24", 1, {"USD": 100}),
        ("2026-11-23", 0, {}),
    ]


def test_the_textfile_is_prometheus_text_with_lag_and_each_dates_reconcile() -> None:
    snapshot = replace(
        HEALTHY, reconciles=[ReconcileView("2026-11-24", None, "r", 2, {"USD": 5}, 0)]
    )
    text = status.textfile(snapshot, status.evaluate(snapshot, LIMITS))
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("driverpay_status_healthy", ())] == 0
    assert (
        samples[("driverpay_reconcile_drivers_affected", (("date", "2026-11-24"), ("zone", "all")))]
        == 2
    )
    assert (
        samples[("driverpay_consumer_lag", (("partition", "1"), ("topic", "order-events")))] == 10
    )


def test_the_json_answer_is_plain_json_even_with_an_infinite_skew() -> None:
    snapshot = replace(HEALTHY, vertices=[VertexLoad("v", (10, 0), math.inf)])
    body = json.loads(json.dumps(status.to_json(snapshot, [])))
    assert body["healthy"] is True
    assert body["vertices"] == [{"name": "v", "records_in": [10, 0], "skew": "inf"}]
    assert body["counters"]["events_valid"]["total"] == 2623
    assert body["lags"][1] == {
        "topic": "order-events",
        "partition": 1,
        "committed": 650,
        "high": 660,
        "lag": 10,
        "growth_per_s": 1.0,
    }


def test_an_unreachable_flink_is_exit_code_2_with_one_line_on_stderr() -> None:
    result = subprocess.run(
        [DRIVERPAY, "status", "--flink-rest", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: Flink REST http://127.0.0.1:9")
    assert len(result.stderr.strip().splitlines()) == 1


@contextmanager
def answering(body: bytes, content_type: str) -> Iterator[str]:
    """A loopback HTTP server answering every GET with 200 and ``body``; its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><body>Please sign in</body></html>", "text/html"),  # a proxy's login page
        (b'{"jobs": [{"name": "driverpay"}]}', "application/json"),  # another shape of JSON
    ],
)
def test_a_flink_rest_answering_something_else_is_exit_code_2_not_unhealthy(
    body: bytes, content_type: str
) -> None:
    """Exit 1 means the job is unhealthy; a status that cannot read Flink must not say so."""
    with answering(body, content_type) as url:
        result = subprocess.run(
            [DRIVERPAY, "status", "--flink-rest", url, "--window", "0"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1
