"""``driverpay zones sync`` against a real HTTP server on 127.0.0.1 (an ephemeral port).

The server serves a good version, then fails (500), hangs (longer than the client timeout),
returns garbage, and recovers with a new version. The publisher is the sync's own seam: a
callable that collects what would go to the ``zones`` topic.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from prometheus_client import start_http_server

from driverpay.zones_sync import SyncSettings, ZonesSync
from udfs.timefmt import parse_rfc3339_ms
from udfs.zones import Zones


def document(rate: str) -> bytes:
    sf = {"timezone": "America/Los_Angeles", "currency": "USD", "rate_per_minute": rate}
    return yaml.safe_dump({"zones": {"sf": sf}}).encode()


GOOD = document("0.30")
CORRECTED = document("0.35")
HANG_S = 1.5
CLIENT_TIMEOUT_S = 0.3
NOON = parse_rfc3339_ms("2026-11-24T20:00:00Z")


class Upstream:
    """What the fake reference service answers next, and how often it was asked."""

    def __init__(self) -> None:
        self.mode = "good"
        self.body = GOOD
        self.requests = 0


@pytest.fixture
def upstream() -> Iterator[tuple[Upstream, str]]:
    state = Upstream()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests += 1
            if state.mode == "hang":
                time.sleep(HANG_S)
            if state.mode == "fail":
                self.send_response(500)
                self.end_headers()
                return
            body = (
                b"zones: [this is not\n  a zones document"
                if state.mode == "garbage"
                else state.body
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/yaml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_port}/zones.yaml"
    finally:
        server.shutdown()
        server.server_close()


def scrape(port: int, metric: str) -> float:
    """A metric's value as Prometheus would read it from the loopback endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith(metric + " "):
            return float(line.split()[1])
    raise AssertionError(f"{metric} not exported:\n{text}")


def make_sync(url: str, published: list[Zones], tmp_path: Path) -> ZonesSync:
    settings = SyncSettings(
        url=url,
        interval_s=0.05,
        timeout_s=CLIENT_TIMEOUT_S,
        attempts=2,
        backoff_max_s=0.05,
        fail_max=3,
        reset_s=0.5,
        requests_per_minute=600,
    )
    return ZonesSync(
        settings, published.append, status_file=tmp_path / "status.json", clock=lambda: NOON / 1000
    )


def test_the_breaker_opens_on_failures_the_last_good_version_stays_and_a_fix_is_published(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    service, url = upstream
    published: list[Zones] = []
    sync = make_sync(url, published, tmp_path)
    server, _ = start_http_server(0, addr="127.0.0.1", registry=sync.registry)
    port = server.server_port
    try:
        sync.fetch_cycle()
        [first] = sync.publish_pending()
        assert first.effective_ms == NOON  # no effective in the document: from when it was learnt
        assert published == [first]
        assert sync.current == first
        assert scrape(port, "driverpay_zones_sync_breaker_state") == 0

        sync.fetch_cycle()  # unchanged content: nothing new to publish
        assert sync.publish_pending() == []

        service.mode = "fail"
        assert sync.fetch_cycle() is None
        service.mode = "hang"
        started = time.monotonic()
        assert sync.fetch_cycle() is None
        assert time.monotonic() - started < 2 * HANG_S  # two attempts, each cut at the timeout
        service.mode = "garbage"
        assert sync.fetch_cycle() is None

        assert scrape(port, "driverpay_zones_sync_breaker_state") == 2  # open
        asked = service.requests
        service.mode, service.body = "good", CORRECTED
        assert sync.fetch_cycle() is None  # open: upstream is not called at all
        assert service.requests == asked
        assert sync.publish_pending() == []
        assert sync.current == first  # the cached version is still the one in use
        status = (tmp_path / "status.json").read_text()
        assert '"breaker": "open"' in status
        assert first.version in status

        time.sleep(0.6)  # past reset: one trial call, and the service is back
        sync.fetch_cycle()
        [second] = sync.publish_pending()
        assert str(second["sf"].rate_per_minute) == "0.35"
        assert published == [first, second]
        assert sync.current == second
        assert scrape(port, "driverpay_zones_sync_breaker_state") == 0
        assert scrape(port, 'driverpay_zones_sync_fetches_total{outcome="breaker_open"}') == 1
    finally:
        server.shutdown()
        sync.close()


def test_a_full_queue_drops_the_oldest_document_and_counts_it(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    service, url = upstream
    published: list[Zones] = []
    sync = make_sync(url, published, tmp_path)
    for rate in ("0.31", "0.32", "0.33", "0.34", "0.35", "0.36"):  # queue holds 4
        service.body = document(rate)
        sync.fetch_cycle()
    assert sync.registry.get_sample_value("driverpay_zones_sync_queue_dropped_total") == 2
    published_rates = [str(z["sf"].rate_per_minute) for z in sync.publish_pending()]
    assert published_rates == ["0.33", "0.34", "0.35", "0.36"]
    sync.close()


@contextmanager
def running(sync: ZonesSync) -> Iterator[None]:
    """``sync.run`` on a thread of its own, stopped and joined on leaving."""
    stop = threading.Event()
    runner = threading.Thread(target=sync.run, args=(stop,), daemon=True)
    runner.start()
    try:
        yield
    finally:
        stop.set()
        runner.join(timeout=5)
    assert not runner.is_alive()


def wait_until(done: Callable[[], bool], deadline: float) -> None:
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_the_long_running_process_publishes_a_new_version_and_stops_when_asked(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    service, url = upstream
    published: list[Zones] = []
    sync = make_sync(url, published, tmp_path)
    deadline = time.monotonic() + 10
    with running(sync):
        wait_until(lambda: bool(published), deadline)
        service.body = CORRECTED
        wait_until(lambda: len(published) >= 2, deadline)
    assert [str(z["sf"].rate_per_minute) for z in published] == ["0.30", "0.35"]
    sync.close()


def test_an_unexpected_error_in_one_fetch_is_reported_and_the_fetcher_carries_on(
    upstream: tuple[Upstream, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = upstream
    published: list[Zones] = []
    sync = make_sync(url, published, tmp_path)
    fetch, errors = sync._fetch_validated, []

    def first_fetch_hits_a_bug() -> Zones:
        if not errors:
            errors.append(sync.last_error)
            raise RuntimeError("a bug in the first fetch")
        errors.append(sync.last_error)  # what the failed cycle left for status
        return fetch()

    monkeypatch.setattr(sync, "_fetch_validated", first_fetch_hits_a_bug)
    with running(sync):
        wait_until(lambda: bool(published), time.monotonic() + 10)
    sync.close()
    assert [str(z["sf"].rate_per_minute) for z in published] == ["0.30"]
    assert errors[:2] == [None, "internal error: RuntimeError: a bug in the first fetch"]


def published_once(url: str, tmp_path: Path) -> tuple[SyncSettings, list[Zones]]:
    """A sync that published upstream's version and stopped: its settings, the topic."""
    on_topic: list[Zones] = []
    sync = make_sync(url, on_topic, tmp_path)
    sync.fetch_cycle()
    sync.publish_pending()
    sync.close()
    return sync.settings, on_topic


def test_a_restarted_sync_does_not_republish_the_version_already_in_use(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    _, url = upstream
    settings, first = published_once(url, tmp_path)
    again: list[Zones] = []
    after = ZonesSync(settings, again.append, current=first[0])
    after.fetch_cycle()
    assert after.publish_pending() == []
    after.close()


def test_a_version_that_changes_a_zones_currency_is_refused_not_published(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    """The job would skip it; the sync must not report it as the version in use."""
    service, url = upstream
    settings, on_topic = published_once(url, tmp_path)
    [in_use] = on_topic
    sf_in_euros = {"timezone": "America/Los_Angeles", "currency": "EUR", "rate_per_minute": "0.30"}
    service.body = yaml.safe_dump({"zones": {"sf": sf_in_euros}}).encode()
    published: list[Zones] = []
    sync = ZonesSync(settings, published.append, in_use, known=on_topic)
    sync.fetch_cycle()
    assert sync.publish_pending() == []
    assert published == []
    assert sync.current == in_use
    assert sync.refused._value.get() == 1
    assert sync.last_error is not None
    assert "zones.sf.currency" in sync.last_error
    assert "USD to EUR" in sync.last_error

    service.body = CORRECTED  # a later fix that fits is published as usual
    sync.fetch_cycle()
    [fixed] = sync.publish_pending()
    assert published == [fixed]
    assert str(fixed["sf"].rate_per_minute) == "0.35"
    sync.close()
