"""``make bench-api``'s pure parts: vegeta's CSV, step summaries, sustainable rates, the report."""

import json

import pytest

from driverpay.bench_api import driver_ids, show, write_targets
from driverpay.bench_api_report import (
    COLUMNS,
    REPORT_KEYS,
    Result,
    Step,
    build_report,
    markdown,
    max_sustainable,
    parse_results,
    summarize,
    within_p99,
    without_errors,
)

MS = 1_000_000  # ns


def step(rate: float, p99: float | None, ok: int = 100, requests: int = 100, achieved: float = 0):
    return Step(rate, requests, ok, achieved or rate, 1.0, 2.0, p99, 9.0)


def test_vegeta_csv_rows_give_send_time_code_latency_and_error() -> None:
    lines = [
        "1700000000000000000,200,1500000,0,171,,eyJ9,,0,GET,http://x/v1,",
        '1700000000001000000,0,5000000000,0,0,Get "http://x": context deadline exceeded,,,1,GET,x,',
        "",
    ]
    assert parse_results(lines) == [
        Result(1_700_000_000_000_000_000, 200, 1_500_000, ""),
        Result(
            1_700_000_000_001_000_000, 0, 5_000_000_000, 'Get "http://x": context deadline exceeded'
        ),
    ]


def test_a_step_counts_only_2xx_as_answered_and_takes_percentiles_over_every_request() -> None:
    results = [Result(n * MS, 200, (n % 10 + 1) * MS) for n in range(100)]
    results += [Result(100 * MS, 503, 50 * MS), Result(101 * MS, 0, 5_000 * MS, "x: timeout")]
    s = summarize(100, results)
    assert (s.requests, s.ok, s.error_count) == (102, 100, 2)
    assert s.p50_ms == 6.0
    assert s.max_ms == 5_000.0
    assert s.codes == {"0": 1, "200": 100, "503": 1}
    assert s.errors == {"timeout": 1}
    # 100 answered over the span from the first send to the last answer (5.101 s)
    assert s.achieved_per_s == round(100 / 5.101, 1)
    assert summarize(10, []).p99_ms is None


def test_a_step_is_sustained_only_without_errors_at_its_rate_and_within_p99() -> None:
    assert within_p99(step(1000, 4.9))
    assert not within_p99(step(1000, 5.1))
    assert without_errors(step(1000, 50.0))
    assert not without_errors(step(1000, 1.0, ok=99))
    assert not without_errors(step(1000, 1.0, achieved=900))  # the generator fell behind
    assert not without_errors(step(1000, None, ok=0, requests=0))


def test_the_maximum_sustainable_rate_is_the_last_step_before_the_first_failure() -> None:
    ramp = [
        step(2000, 8.0),
        step(500, 1.0),
        step(1000, 3.0),
        step(3000, 9.0, ok=90),
        step(4000, 1.0),
    ]
    assert max_sustainable(ramp) == {"no_errors_per_s": 2000, "p99_within_target_per_s": 1000}
    assert max_sustainable([step(500, 6.0)]) == {
        "no_errors_per_s": 500,
        "p99_within_target_per_s": None,
    }
    assert max_sustainable([]) == {"no_errors_per_s": None, "p99_within_target_per_s": None}


def test_the_report_has_its_keys_the_target_verdict_and_a_markdown_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    meta = {"date": "2026-11-25T20:00:00+00:00", "machine": {"cpus": 2}, "config": {}}
    report = build_report(meta, step(1000, 2.4), [step(500, 1.0), step(1000, 7.0)])
    assert tuple(report) == REPORT_KEYS
    assert report["targets"]["p99_ms_at_rate"] == {
        "rate": 1000,
        "target": 5.0,
        "measured": 2.4,
        "met": True,
    }
    assert report["max_sustainable"]["p99_within_target_per_s"] == 500
    json.dumps(report)  # plain JSON
    table = markdown(report).splitlines()
    assert table[0] == "| " + " | ".join(COLUMNS) + " |"
    assert table[2].startswith("| fixed | 1,000 | 1,000 | 100 | 0 | 1.00 | 2.00 | 2.40 |")
    assert len([ln for ln in table if ln.startswith("| ramp")]) == 2
    assert table[-1] == "max sustainable: 1,000/s without errors, 500/s with p99 <= 5 ms"
    show(report)
    printed = capsys.readouterr().out
    assert "driverpay bench-api 2026-11-25T20:00:00+00:00 (2 cores)" in printed
    assert "p99 at 1,000/s: 2.4 ms vs target 5 ms: met" in printed
    assert build_report(meta, None, [])["targets"]["p99_ms_at_rate"]["met"] is None


def test_targets_are_random_seeded_drivers_with_the_bearer_token(tmp_path) -> None:
    import random

    ids = driver_ids("r1", 3)
    assert ids == ["bench-api-r1-000000", "bench-api-r1-000001", "bench-api-r1-000002"]
    path = tmp_path / "t"
    write_targets(path, "http://127.0.0.1:9", "tok", ids, 50, random.Random(1))
    blocks = path.read_text().split("\n\n")
    assert len(blocks) == 51
    assert blocks[-1] == ""
    for block in blocks[:-1]:
        request, auth = block.split("\n")
        assert request.startswith("GET http://127.0.0.1:9/v1/drivers/bench-api-r1-00000")
        assert request.endswith("/pay?date=2026-11-24")
        assert auth == "Authorization: Bearer tok"
    assert len({b.split("\n")[0] for b in blocks[:-1]}) == 3
