"""``driverpay zones sync``: the one component that calls the upstream reference service.

A fetcher thread asks the service for the zones document every ``interval`` seconds, validates
it and hands it to a publisher thread through a bounded queue; the publisher publishes a new
version to the ``zones`` topic when the content changed. The job never calls upstream.

Both sides are protected by maintained libraries, not hand-written loops:

- **tenacity**: each fetch is retried with exponential backoff and full jitter, a bounded
  number of attempts, and a per-request timeout (httpx);
- **pybreaker**: after ``fail_max`` failed fetches in a row (errors, timeouts, 5xx, garbage)
  the circuit opens and upstream is left alone for ``reset_s``; then one trial call decides.
  Its state is exported as the gauge ``driverpay_zones_sync_breaker_state`` (0 closed,
  1 half-open, 2 open) and in the status file;
- **limits**: a moving-window rate limit on requests to upstream (retries included);
- a bounded ``queue.Queue`` between fetcher and publisher, **drop-oldest**: a slow or failing
  publish never blocks fetching, only the newest fetched document matters, and each dropped
  one is counted (``driverpay_zones_sync_queue_dropped_total``).

When upstream fails, nothing is published: the last good version stays the one in use (the
job keeps pricing with it), and the status says which version that is.

A fetched version must fit the versions on the topic, as ``zones publish`` requires
(``zones_topic.history_from_topic``): a zone's timezone or currency never changes, and no two
versions take effect at the same instant. The job skips a version that does not fit, so
publishing it would only make the sync report a version nobody prices with; it is refused,
counted (``driverpay_zones_sync_refused_total``) and named in the status's ``last_error``.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pybreaker
import yaml
from limits import RateLimitItemPerMinute, storage, strategies
from prometheus_client import CollectorRegistry, Counter, Gauge
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from driverpay.zones_topic import history_from_topic
from udfs.zones import Zones, ZonesError, parse_zones
from udfs.zones_history import with_effective

BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}


class UpstreamError(Exception):
    """The reference service answered with an error status (retried)."""


@dataclass(frozen=True)
class SyncSettings:
    """Knobs of ``zones sync`` (defaults in ``driverpay zones sync --help``)."""

    url: str
    interval_s: float = 60.0
    timeout_s: float = 5.0
    attempts: int = 3
    backoff_max_s: float = 10.0
    fail_max: int = 3
    reset_s: float = 60.0
    requests_per_minute: int = 30
    queue_size: int = 4


def content_of(zones: Zones) -> str:
    """What "changed" means: the parsed document without its effective time, canonically."""
    doc = yaml.safe_load(zones.source)
    doc.pop("effective", None)
    return json.dumps(doc, sort_keys=True, default=str)


class ZonesSync:
    """Fetch, validate, queue, publish; ``publish`` is the seam (Kafka in the command)."""

    def __init__(
        self,
        settings: SyncSettings,
        publish: Callable[[Zones], None],
        current: Zones | None = None,
        registry: CollectorRegistry | None = None,
        status_file: Path | None = None,
        clock: Callable[[], float] = time.time,
        known: Sequence[Zones] = (),
    ) -> None:
        self.settings = settings
        self.publish_version = publish
        self.current = current  # the version in use: the last one published (or found)
        self.known = list(known)  # the topic's versions, in topic order, plus those published
        self._content = content_of(current) if current is not None else None
        self.status_file = status_file
        self.clock = clock
        self.queue: queue.Queue[Zones] = queue.Queue(maxsize=settings.queue_size)
        self.http = httpx.Client(timeout=settings.timeout_s)
        self.limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self.rate = RateLimitItemPerMinute(settings.requests_per_minute)
        self.last_error: str | None = None
        self._called = False
        self._status_lock = threading.Lock()  # fetcher and publisher both report
        registry = registry or CollectorRegistry()
        self.registry = registry
        self.breaker_state = Gauge(
            "driverpay_zones_sync_breaker_state",
            "Circuit breaker around the reference service: 0 closed, 1 half-open, 2 open.",
            registry=registry,
        )
        self.fetches = Counter(
            "driverpay_zones_sync_fetches",
            "Fetch cycles by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.published = Counter(
            "driverpay_zones_sync_published", "Versions published.", registry=registry
        )
        self.refused = Counter(
            "driverpay_zones_sync_refused",
            "Fetched versions not published: they do not fit the versions on the topic.",
            registry=registry,
        )
        self.dropped = Counter(
            "driverpay_zones_sync_queue_dropped",
            "Fetched documents dropped from the full queue (oldest first).",
            registry=registry,
        )
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=settings.fail_max,
            reset_timeout=settings.reset_s,
            listeners=[_GaugeListener(self)],
            name="zones-upstream",
        )
        self.breaker_state.set(0)

    # -- fetcher ----------------------------------------------------------------------------

    def fetch_cycle(self) -> Zones | None:
        """One fetch through breaker, retries and rate limit; a good document is queued."""
        self._called = False
        try:
            zones = self.breaker.call(self._fetch_validated)
        except pybreaker.CircuitBreakerError as exc:
            # raised by the call that trips the breaker too: that one did ask upstream
            self.fetches.labels("failed" if self._called else "breaker_open").inc()
            self.last_error = str(exc) if self._called else "circuit open: upstream not called"
            self._write_status()
            return None
        except (httpx.HTTPError, UpstreamError, ZonesError) as exc:
            self.fetches.labels("failed").inc()
            self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            self._write_status()
            return None
        self.fetches.labels("ok").inc()
        self.last_error = None
        self._enqueue(zones)
        self._write_status()
        return zones

    def _fetch_validated(self) -> Zones:
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.attempts),
            wait=wait_random_exponential(multiplier=0.1, max=self.settings.backoff_max_s),
            retry=retry_if_exception(_transient),
            reraise=True,
        )
        body = retrying(self._get)
        return parse_zones(body, source=self.settings.url)  # garbage: ZonesError, not retried

    def _get(self) -> bytes:
        while not self.limiter.hit(self.rate, "upstream"):
            reset = self.limiter.get_window_stats(self.rate, "upstream").reset_time
            time.sleep(max(0.01, min(1.0, reset - time.time())))
        self._called = True
        response = self.http.get(self.settings.url)
        if response.status_code >= 500:
            raise UpstreamError(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise ZonesError(f"{self.settings.url}: HTTP {response.status_code}")
        return response.content

    def _enqueue(self, zones: Zones) -> None:
        while True:
            try:
                self.queue.put_nowait(zones)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()  # drop the oldest: the newest document wins
                    self.dropped.inc()
                except queue.Empty:
                    pass

    # -- publisher --------------------------------------------------------------------------

    def publish_pending(self, wait_s: float = 0.0) -> list[Zones]:
        """Publish what the fetcher queued, if its content changed; returns what was published."""
        out: list[Zones] = []
        while True:
            try:
                fetched = self.queue.get(timeout=wait_s) if wait_s else self.queue.get_nowait()
            except queue.Empty:
                return out
            wait_s = 0.0
            content = content_of(fetched)
            if content == self._content:
                continue
            zones = fetched
            if zones.effective_ms is None:  # takes effect when it was learnt of
                stamped = with_effective(zones.source, self._learnt_at())
                zones = parse_zones(stamped, source=self.settings.url)
            if not self._fits(zones):
                continue
            try:
                self.publish_version(zones)
            except Exception as exc:  # Kafka down: keep the old version, try again next time
                self.last_error = f"publish: {type(exc).__name__}: {exc}".splitlines()[0][:300]
                self._write_status()
                continue
            self.current, self._content = zones, content
            self.known.append(zones)
            self.published.inc()
            out.append(zones)
            self._write_status()

    def _learnt_at(self) -> int:
        """Now, in ms, moved on past any known version that takes effect at that very instant.

        Two versions learnt within one clock tick would otherwise share an effective time,
        which the topic refuses. A version scheduled for later keeps its own place.
        """
        taken = {v.effective_ms for v in self.known}
        stamp = int(self.clock() * 1000)
        while stamp in taken:
            stamp += 1
        return stamp

    def _fits(self, zones: Zones) -> bool:
        """Whether the job would price with ``zones``; if not, say why and count it."""
        if not self.known:
            return True
        try:
            history_from_topic(self.known).plus(zones)
        except ZonesError as exc:
            self.refused.inc()
            self.last_error = f"refused: {exc}".splitlines()[0][:300]
            self._write_status()
            return False
        return True

    # -- the long-running process ---------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Fetcher and publisher threads until ``stop`` is set."""

        def fetcher() -> None:
            while not stop.is_set():
                try:
                    self.fetch_cycle()
                except Exception as exc:  # a bug must not end the fetcher without a word
                    self.fetches.labels("failed").inc()
                    self.last_error = f"internal error: {type(exc).__name__}: {exc}"[:300]
                    self._write_status()
                stop.wait(self.settings.interval_s)

        def publisher() -> None:
            while not stop.is_set():
                self.publish_pending(wait_s=0.5)

        threads = [
            threading.Thread(target=fetcher, name="zones-fetcher", daemon=True),
            threading.Thread(target=publisher, name="zones-publisher", daemon=True),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def status(self) -> dict[str, Any]:
        """What the status file says: breaker state, version in use, last error, counts."""
        return {
            "breaker": self.breaker.current_state,
            "version": self.current.version if self.current else None,
            "last_error": self.last_error,
            "queue": self.queue.qsize(),
            "published": int(self.published._value.get()),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock())),
        }

    def _write_status(self) -> None:
        if self.status_file is None:
            return
        with self._status_lock:
            tmp = self.status_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.status()) + "\n")
            tmp.replace(self.status_file)  # readers never see half a file

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self.http.close()


class _GaugeListener(pybreaker.CircuitBreakerListener):
    """Mirror every breaker state change into the gauge."""

    def __init__(self, sync: ZonesSync) -> None:
        self.sync = sync

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        self.sync.breaker_state.set(BREAKER_STATES.get(new_state.name, 2))


def _transient(exc: BaseException) -> bool:
    """Retry what may pass on its own: transport errors, timeouts, 5xx."""
    return isinstance(exc, httpx.TransportError | UpstreamError)
