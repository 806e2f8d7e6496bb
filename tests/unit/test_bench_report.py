"""The benchmark's pure parts: percentiles, the steady window, the report's shape, markers."""

import json
from pathlib import Path

import pytest

from driverpay.bench import marker_events, paid_zone, records_in, show
from driverpay.bench_report import (
    COLUMNS,
    REPORT_KEYS,
    BaselineRun,
    EmbeddedRun,
    KafkaRun,
    SteadyRate,
    build_report,
    latency_summary,
    markdown,
    percentile,
    ratio,
    rows,
    steady_rate,
)
from udfs.events import EventType, parse_event
from udfs.zones import load_zones

ROOT = Path(__file__).resolve().parents[2]


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 100) == 4.0
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="out of range"):
        percentile(values, 101)


def test_steady_rate_leaves_out_start_up_and_drain() -> None:
    # 10 s of start-up with nothing read, 1,000/s for 100 s, then a slow tail
    samples = [(float(t), 0.0) for t in range(10)]
    samples += [(10.0 + t, 1000.0 * t) for t in range(101)]
    samples += [(111.0, 100_000.0)]
    rate = steady_rate(samples, 100_000)
    assert rate is not None
    assert rate.events_per_s == pytest.approx(1000.0)
    assert rate.start_s == 15.0  # the first sample with >= 5 % read
    assert rate.window_events == 90_000  # 5 % .. 95 %


def test_steady_rate_needs_two_samples_inside_the_window() -> None:
    assert steady_rate([(0.0, 0.0), (1.0, 100.0)], 100) is None
    assert steady_rate([], 100) is None


def test_latency_summary_in_milliseconds() -> None:
    summary = latency_summary([0.5, 1.0, 1.5])
    assert summary == {"count": 3, "p50_ms": 1000.0, "p99_ms": 1490.0, "max_ms": 1500.0}
    assert latency_summary([])["p99_ms"] is None


def test_report_shape_ratios_and_targets(capsys: pytest.CaptureFixture[str]) -> None:
    kafka = [
        KafkaRun(p, 1000, SteadyRate(1000.0 * p, 60.0, 6e4 * p, 5.0), {"p99_ms": 900.0 * p})
        for p in (1, 2)
    ]
    baseline = [BaselineRun(p, 1000, SteadyRate(10_000.0 * p, 20.0, 2e5, 3.0)) for p in (1, 2)]
    embedded = [EmbeddedRun("job", 1000, 2.0), EmbeddedRun("baseline", 1000, 0.5)]
    meta = {"date": "2026-11-25T18:00:00+00:00", "machine": {"cpus": 2}, "config": {}}
    report = build_report(meta, kafka, baseline, embedded, 10_000)
    assert tuple(report) == REPORT_KEYS
    assert report["ratios"] == {
        "kafka_p1": 0.1,
        "kafka_p2": 0.1,
        "kafka_p1_warm": None,  # no warm window measured
        "kafka_p2_warm": None,
        "embedded": 0.25,
    }
    assert report["targets"]["embedded_ratio"] == {"target": 0.5, "measured": 0.25, "met": False}
    assert report["targets"]["kafka_p2_events_per_s"]["measured"] == 2000.0
    assert report["targets"]["p99_latency_ms"] == {
        "target": 12_000.0,
        "measured": 1800.0,
        "met": True,
    }
    json.dumps(report)  # serialisable as it is
    table = markdown(report).splitlines()
    assert len(table) == 2 + 2 + 2 + 2
    assert all(line.count("|") == len(COLUMNS) + 1 for line in table)
    show(report)
    printed = capsys.readouterr().out
    assert "driverpay bench 2026-11-25T18:00:00+00:00 (2 cores)" in printed
    assert "embedded_ratio: 0.25 vs target 0.5: not met" in printed
    assert "p99_latency_ms: 1800.0 vs target 12000.0: met" in printed


def test_missing_measurements_give_no_ratio() -> None:
    assert ratio(None, 10.0) is None
    assert ratio(5.0, 0.0) is None
    report = build_report({"date": "", "machine": {}, "config": {}}, [], [], [], 10_000)
    assert report["targets"]["kafka_p2_events_per_s"]["met"] is None


def test_records_in_sums_the_source_operator_of_one_job() -> None:
    line = (
        'flink_taskmanager_job_task_operator_numRecordsIn{{job_id="{job}",operator_name='
        '"{op}",subtask_index="{i}",}} {value}'
    )
    text = "\n".join(
        [
            "# TYPE flink_taskmanager_job_task_operator_numRecordsIn gauge",
            line.format(job="j1", op="Source:_order_events_src_1_", i=0, value="100.0"),
            line.format(job="j1", op="Source:_order_events_src_1_", i=1, value="23.0"),
            line.format(job="j1", op="Source:_pay_corrections_src_4_", i=0, value="7.0"),
            line.format(job="j2", op="Source:_order_events_src_1_", i=0, value="5.0"),
            line.format(job="j1", op="Calc_2_", i=0, value="123.0"),
        ]
    )
    assert records_in(text, "j1", "order_events_src") == 123.0


def test_markers_are_valid_events_of_a_paying_zone() -> None:
    zones = load_zones(ROOT / "config" / "zones.yaml")
    zone = paid_zone()
    accepted, delivered = (
        parse_event(line, zones) for line in marker_events("t1", 7, zone, 1_795_600_000_000)
    )
    assert accepted.type is EventType.ACCEPTED
    assert delivered.type is EventType.DELIVERED
    assert accepted.driver_id == delivered.driver_id == "bench-t1-00007"
    assert delivered.time_ms - accepted.time_ms == 300_000
    assert EventType.DELIVERED in zones[zone].paid_on


def test_floor_runs_are_rows_with_their_ratio_to_the_embedded_baseline() -> None:
    embedded = [
        EmbeddedRun("job", 1000, 2.0),
        EmbeddedRun("baseline", 1000, 0.25),
        EmbeddedRun("core", 1000, 0.4),
        EmbeddedRun("floor-map", 1000, 0.5),
        EmbeddedRun("floor-job-shape", 1000, 1.0),
    ]
    report = build_report({"date": "", "machine": {}, "config": {}}, [], [], embedded, 10_000)
    by_name = {row[0]: row[3] for row in rows(report)}
    assert by_name == {
        "embedded driverpay run p=1": "0.12",
        "embedded SQL baseline p=1": "1",
        "the pure core alone, one CPython, no Flink": "0.62",
        "embedded floor: one Python map p=1": "0.50",
        "embedded floor: the job's Python stages, no work p=1": "0.25",
    }
    assert report["ratios"]["embedded"] == 0.125  # the target's ratio is still the job's


def test_kafka_floors_are_rows_with_their_ratio_to_the_baseline_at_their_parallelism() -> None:
    baseline = [BaselineRun(p, 1000, SteadyRate(10_000.0 * p, 20.0, 2e5, 3.0)) for p in (1, 2)]
    floors = [
        BaselineRun(2, 1000, SteadyRate(8_000.0, 20.0, 1.6e5, 3.0), "j", "floor-sql-lifecycle"),
        BaselineRun(2, 1000, None, "k", "floor-sql-lifecycle-daily"),  # never reached steady
    ]
    meta = {"date": "", "machine": {}, "config": {}}
    report = build_report(meta, [], baseline, [], 10_000, floors)
    assert report["ratios"] == {
        "kafka_floor-sql-lifecycle_p2": 0.4,
        "kafka_floor-sql-lifecycle-daily_p2": None,
        "embedded": None,
    }
    assert [f["name"] for f in report["kafka_floors"]] == [f.name for f in floors]
    by_name = {row[0]: (row[2], row[3]) for row in rows(report)}
    assert by_name["Kafka floor: SQL dedup, one keyed Python stage, no work p=2"] == (
        "8,000",
        "0.40",
    )
    assert by_name["Kafka floor: SQL dedup, lifecycle + daily in Python p=2"] == ("-", "-")
    assert report["targets"]["kafka_p2_events_per_s"]["measured"] is None  # a floor is not the job


def test_the_warm_window_is_the_sustained_rate_the_kafka_target_is_judged_on() -> None:
    cold, warm = SteadyRate(1_900.0, 80.0, 1.5e5, 5.0), SteadyRate(3_900.0, 40.0, 1.5e5, 60.0)
    kafka = [KafkaRun(2, 425_000, cold, {"p99_ms": 900.0}, warm=warm)]
    baseline = [BaselineRun(2, 500_000, SteadyRate(39_000.0, 10.0, 3.9e5, 3.0))]
    meta = {"date": "", "machine": {}, "config": {"warm_from": 0.6}}
    report = build_report(meta, kafka, baseline, [], 10_000)
    assert report["targets"]["kafka_p2_events_per_s"]["measured"] == 3_900.0
    assert report["ratios"]["kafka_p2"] == round(1_900 / 39_000, 3)
    assert report["ratios"]["kafka_p2_warm"] == 0.1
    by_name = {row[0]: row for row in rows(report)}
    assert by_name["Kafka job p=2, warm: from 60% of the backlog"][1:4] == [
        "150,000",
        "3,900",
        "0.10",
    ]
    assert all(len(row) == len(COLUMNS) for row in rows(report))


def test_a_run_too_short_to_warm_is_judged_on_its_whole_window() -> None:
    kafka = [KafkaRun(2, 1000, SteadyRate(2_000.0, 60.0, 1.2e5, 5.0), {"p99_ms": 900.0})]
    report = build_report({"date": "", "machine": {}, "config": {}}, kafka, [], [], 10_000)
    assert report["targets"]["kafka_p2_events_per_s"]["measured"] == 2_000.0
    assert report["ratios"]["kafka_p2_warm"] is None
    assert [row[0] for row in rows(report)] == ["Kafka job p=2"]
