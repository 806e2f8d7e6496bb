"""A hostile-input corpus, mixed into an honest generated day.

Every class of record production really sends that the contract rejects, or that must never be
paid: each comes with where it must end up (dead letter or quarantine) and a piece of the
reason. The same corpus runs embedded (tests/hostile/test_embedded.py) and through Kafka on the
real stack (tests/stack/test_hostile.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from udfs.zones import zones_version

DAY = "2026-11-24"
LA = ZoneInfo("America/Los_Angeles")
Outcome = Literal["dead_letter", "quarantine", "paid"]


def at(local: str, day: str = DAY) -> str:
    """RFC 3339 UTC of a Los Angeles wall-clock time (sf's zone)."""
    moment = datetime.fromisoformat(f"{day}T{local}").replace(tzinfo=LA)
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def event(eid: str, order: str, driver: str, kind: str, when: str, **extra: Any) -> dict[str, Any]:
    """A valid sf event (before any hostile change)."""
    doc = {"event_id": eid, "order_id": order, "driver_id": driver, "type": kind}
    return {**doc, "event_time": when, "zone": "sf", **extra}


def dump(doc: Any) -> bytes:
    """JSON bytes, keeping non-ASCII characters as they are."""
    return json.dumps(doc, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Hostile:
    """One hostile record and where it must end up."""

    name: str
    payload: bytes | None
    outcome: Outcome
    reason: str  # a piece of the reason the job must give
    kafka_only: bool = False  # a null record value exists on Kafka, not in a file


@dataclass
class Corpus:
    """Records to place, and what must (not) be paid because of them."""

    first: list[Hostile] = field(default_factory=list)  # before the honest day (warm-up)
    mixed: list[list[Hostile]] = field(default_factory=list)  # groups, each kept contiguous
    never_paid: set[str] = field(default_factory=set)  # order ids with no ledger line
    paid: dict[str, str] = field(default_factory=dict)  # valid but odd orders: driver id

    @property
    def records(self) -> list[Hostile]:
        return self.first + [h for group in self.mixed for h in group]


def _valid(eid: str, **changes: Any) -> dict[str, Any]:
    return {**event(eid, f"o-{eid}", "d-hostile", "ACCEPTED", at("09:00")), **changes}


def _dead(name: str, payload: bytes | None, reason: str, kafka_only: bool = False) -> Hostile:
    return Hostile(name, payload, "dead_letter", reason, kafka_only)


def malformed() -> list[Hostile]:
    """Records the contract rejects: each must reach the dead letter with this reason."""
    nested = _valid("h-nested-extra")
    nested["extra"] = json.loads("[" * 40 + "]" * 40)
    dup = dump(_valid("h-dup-key"))[:-1] + b', "driver_id": "d-other"}'
    huge = dump(_valid("h-huge-int"))[:-1] + b', "schema_version": ' + b"9" * 5000 + b"}"
    return [
        _dead("deep nesting", b"[" * 60_000, "nested deeper"),
        _dead("deep nesting in an extra field", dump(nested), "nested deeper"),
        _dead("null Kafka value", None, "empty record", kafka_only=True),
        _dead("empty record", b"", "empty record"),
        _dead("empty object", b"{}", "event_id: required"),
        _dead("JSON array", b'[{"event_id": "h-array"}]', "not a JSON object"),
        _dead("bare string", b'"h-string"', "not a JSON object"),
        _dead("duplicate key", dup, "duplicate key"),
        _dead("integer too long to convert", huge, "invalid JSON"),
        _dead("year 1", dump(_valid("h-year-1", event_time="0001-01-01T00:00:00Z")), "range"),
        _dead("year 9999", dump(_valid("h-year-9999", event_time="9999-12-31T23:59:59Z")), "range"),
        _dead("year 2100", dump(_valid("h-year-2100", event_time="2100-01-01T00:00:00Z")), "range"),
        _dead("no offset", dump(_valid("h-naive", event_time="2026-11-24T09:00:00")), "RFC 3339"),
        _dead("numeric time", dump(_valid("h-numeric", event_time=1795540000000)), "string"),
        _dead("NUL in order_id", dump(_valid("h-nul", order_id="o-\x00-nul")), "control"),
        _dead("escape in driver_id", dump(_valid("h-esc", driver_id="d-\x1b[31m")), "control"),
        _dead("bidi override", dump(_valid("h-bidi", driver_id="d-\u202eevil")), "control"),
        _dead("line separator", dump(_valid("h-ls", order_id="o-\u2028x")), "control"),
        _dead("lone surrogate", b'{"event_id": "h-sur\\ud800", "type": "ACCEPTED"}', "surrogate"),
        _dead("blank driver", dump(_valid("h-blank", driver_id="   ")), "blank"),
        _dead("padded order id", dump(_valid("h-pad", order_id=" o-pad ")), "whitespace"),
        _dead("id too long", dump(_valid("h-long-id", order_id="o" * 129)), "longer than 128"),
        _dead("lower-case type", dump(_valid("h-lower", type="delivered")), "unknown event type"),
        _dead("unknown zone", dump(_valid("h-zone", zone="atlantis")), "unknown zone"),
        _dead("schema v2", dump(_valid("h-v2", schema_version=2)), "unsupported major"),
        _dead("schema true", dump(_valid("h-true", schema_version=True)), "integer"),
        _dead("oversize", dump(_valid("h-big", pad="p" * 70_000)), "oversize"),
        # Escaped as JSON it would be a 5 MB dead letter, over what the Kafka sink may write.
        _dead("900 kB of control characters", b"\x01" * 900_000, "oversize"),
        _dead("invalid UTF-8", b'{"event_id": "h-\xff\xfe"}', "UTF-8"),
        _dead("UTF-16 with BOM", dump(_valid("h-utf16")).decode().encode("utf-16"), "UTF-8"),
        _dead("not JSON", b"h-not-json {", "invalid JSON"),
        _dead("NaN literal", b'{"event_id": "h-nan", "schema_version": NaN}', "NaN is not JSON"),
        _dead(
            "Infinity in an unknown field",
            dump(_valid("h-inf"))[:-1] + b', "tip": -Infinity}',
            "-Infinity is not JSON",
        ),
    ]


def build(rng: random.Random) -> Corpus:
    """The whole corpus: malformed records, valid events that must not be paid, odd valid ids."""
    corpus = Corpus()
    ahead = at("09:00", "2031-06-01")
    future = [
        event("h-future-a", "o-future", "d-hostile", "ACCEPTED", ahead),
        event("h-future-d", "o-future", "d-hostile", "DELIVERED", at("09:30", "2031-06-01")),
    ]
    # A record from the future first of all: the stream has no event time yet to judge it by.
    corpus.first.append(Hostile("future, first record", dump(future[0]), "quarantine", "ahead"))
    corpus.first += [
        Hostile(
            "interval longer than max_open",
            dump(event(eid, "o-12h", "d-hostile", kind, when)),
            "quarantine",
            "",
        )
        for eid, kind, when in (
            ("h-12h-a", "ACCEPTED", at("00:10")),
            ("h-12h-d", "DELIVERED", at("12:40")),
        )
    ]
    corpus.mixed.append([Hostile("future, mid-stream", dump(future[1]), "quarantine", "ahead")])
    corpus.mixed += [
        [Hostile("decade", dump(event(eid, "o-decade", "d-hostile", kind, when)), "quarantine", "")]
        for eid, kind, when in (
            ("h-decade-a", "ACCEPTED", "2016-11-24T17:00:00.000Z"),
            ("h-decade-d", "DELIVERED", at("10:00")),
        )
    ]
    # Placed with the warm-up records at the stream's start: a 72-event block dated hours
    # ahead of the stream would be a burst the clock rightly follows (each is < max_ahead).
    start = "2026-11-23T15:00:{:02d}.000Z".format
    cap = [event("h-cap-a", "o-cap", "d-hostile", "ACCEPTED", start(0))]
    cap += [
        event(f"h-cap-p{i:03d}", "o-cap", "d-hostile", "PICKED_UP", start(i % 60))
        for i in range(1, 71)
    ]
    cap.append(event("h-cap-d", "o-cap", "d-hostile", "DELIVERED", "2026-11-23T16:10:00.000Z"))
    corpus.first += [Hostile("too many events", dump(e), "quarantine", "") for e in cap]
    corpus.mixed += [[h] for h in malformed()]
    corpus.never_paid |= {"o-future", "o-12h", "o-decade", "o-cap"}
    # Valid, if unusual: a "|" in a driver id (the daily stage's key separator) and non-ASCII.
    for order, driver in (("o-pipe", "d|pipe|2026-11-24"), ("o-unicode", "司机-七")):
        corpus.paid[order] = driver
        corpus.mixed.append(
            [
                Hostile(
                    "odd but valid", dump(event(f"{order}-{k}", order, driver, k, when)), "paid", ""
                )
                for k, when in (("ACCEPTED", at("15:00")), ("DELIVERED", at("15:30")))
            ]
        )
    rng.shuffle(corpus.mixed)
    return corpus


def mix(honest: list[bytes], corpus: Corpus, rng: random.Random, kafka: bool) -> list[Any]:
    """Honest lines with the corpus inside: warm-up records first, the rest at seeded places."""
    lines: list[Any] = list(honest)
    for group in corpus.mixed:
        payloads = [h.payload for h in group if kafka or not h.kafka_only]
        at_ = rng.randrange(len(lines) // 10, len(lines))
        lines[at_:at_] = payloads
    return [h.payload for h in corpus.first] + lines


def resent_pair(honest: list[bytes]) -> list[bytes]:
    """An honest order's ACCEPTED and DELIVERED lines, byte for byte, for a producer to replay.

    A plain accept, pick-up, deliver order of the evening (accepted 19:00-20:00 local, delivered
    by 21:00): re-sent at the end of the day its state is gone (closed + 1 h); re-sent again
    after 01:00 the next day its day is final, yet a re-derived interval is still within
    ``max_open`` of its acceptance, so the job derives the line again and the day must refuse it.
    """
    by_order: dict[str, list[tuple[dict[str, Any], bytes]]] = defaultdict(list)
    for line in honest:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("order_id"), str):
            by_order[doc["order_id"]].append((doc, line))
    for events in by_order.values():
        kinds = sorted(doc.get("type") for doc, _ in events)
        if kinds != ["ACCEPTED", "DELIVERED", "PICKED_UP"]:
            continue
        when = {doc["type"]: doc.get("event_time", "") for doc, _ in events}
        evening = at("19:00") <= when["ACCEPTED"] < at("20:00") and when["DELIVERED"] < at("21:00")
        if evening and all(doc.get("zone") == "sf" for doc, _ in events):
            pair = [(doc, line) for doc, line in events if doc["type"] != "PICKED_UP"]
            return [line for _, line in sorted(pair, key=lambda e: e[0]["type"])]
    raise AssertionError("the honest day has no plain evening order to re-send")


def fillers(count: int, day: str, start: str) -> list[bytes]:
    """Complete one-minute orders of one filler driver, to move event time on past ``start``."""
    base = datetime.fromisoformat(f"{day}T{start}").replace(tzinfo=LA)
    lines = []
    for i in range(count):
        begin = base + timedelta(seconds=10 * i)
        for kind, moment in (("ACCEPTED", begin), ("DELIVERED", begin + timedelta(minutes=1))):
            when = moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            lines.append(
                dump(event(f"f-{day}-{i}-{kind}", f"f-{day}-{i}", "zz-filler", kind, when))
            )
    return lines


def _version(document: str, **changes: Any) -> bytes:
    """A zones-topic record for ``document``, its version and effective as the job expects."""
    version = zones_version(document.encode())
    record = {"document": document, "effective": None, "version": version, **changes}
    return json.dumps(record, sort_keys=True).encode()


_SF = "zones:\n  sf:\n    timezone: {tz}\n    currency: USD\n    rate_per_minute: '0.30'\n"
# A few hundred bytes of nested YAML aliases that would expand to 9**9 strings.
_ALIASES = ", ".join(
    [
        '&a0 ["xxxxxxxx", "xxxxxxxx", "xxxxxxxx", "xxxxxxxx", "xxxxxxxx", "xxxxxxxx", "xxxxxxxx", '
        '"xxxxxxxx", "xxxxxxxx"]'
    ]
    + [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
)


def zones_versions() -> list[Hostile]:
    """Records on the ``zones`` input that are no valid version.

    Each is dead-lettered once, with its reason, and prices nothing: the versions already
    running go on pricing.
    """
    return [
        _dead("zones: empty", b"", "zones version: record: not JSON"),
        _dead("zones: not JSON", b"zones: {sf: {}}", "zones version: record: not JSON"),
        _dead("zones: a list", b"[]", "zones version: record: must be a JSON object"),
        _dead(
            "zones: NaN document",
            b'{"document": NaN, "effective": null, "version": "x"}',
            "zones version: record: not JSON",
        ),
        _dead(
            "zones: a number for a document",
            b'{"document": 1e999, "effective": null, "version": "x"}',
            "zones version: document: must be the zones document's text",
        ),
        _dead(
            "zones: wrong hash",
            _version(_SF.format(tz="UTC"), version="sha256:0"),
            "zones version: version: 'sha256:0' is not the document's hash",
        ),
        _dead(
            "zones: timezone changed",
            _version(_SF.format(tz="Europe/Berlin")),
            "needs a fresh start",
        ),
        _dead(
            "zones: YAML alias bomb",
            _version(_SF.format(tz=f"[{_ALIASES}]")),
            "more than 100000 values once its YAML aliases are expanded",
        ),
    ]


def _correction(n: int, **changes: Any) -> bytes:
    """A correction record in the ledger's shape (what ``reconcile --apply`` sends), changed."""
    record = {
        "line_id": f"c-hostile-{n}",
        "kind": "ADJUSTMENT",
        "order_id": f"o-c-hostile-{n}",
        "driver_id": "d-hostile",
        "zone": "sf",
        "pay_date": DAY,
        "start": "2026-11-24T18:00:00.000Z",
        "end": "2026-11-24T18:10:00.000Z",
        "base_ms": 600_000,
        "weighted_ms": 600_000,
        "rate_per_minute": "0.30",
        "amount": "3.00",
        "currency": "USD",
        "end_type": "DELIVERED",
        "reason": "hostile",
        **changes,
    }
    return dump(record)


_BAD_CORRECTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("NUL driver id", {"driver_id": "d\u0000x"}, "driver_id: contains control or format"),
    ("NUL reason", {"reason": "fix\u0000"}, "reason: at most 500 characters, no control"),
    ("amount beyond BIGINT", {"amount": "1e17"}, "amount: more than 1000000000000 minor units"),
    ("weighted_ms 1e999999", {"weighted_ms": "1e999999"}, "weighted_ms: not a finite decimal"),
]


def corrections() -> list[Hostile]:
    """Records on ``pay-corrections`` that no sink could store (a NUL, numbers too big).

    Each must be dead-lettered with its reason and never reach PostgreSQL.
    """
    bad = [
        _dead(f"correction: {name}", _correction(n, **change), f"correction: {reason}")
        for n, (name, change, reason) in enumerate(_BAD_CORRECTIONS, 1)
    ]
    return [_dead("correction: not JSON", b"{reason: fix}", "correction: not a JSON object"), *bad]


def payload_id(payload: bytes | None) -> str:
    """How a dead letter is matched to the record it stands for: the SHA-256 of its bytes."""
    return hashlib.sha256(payload or b"").hexdigest()


def dead_letter_id(record: dict[str, Any]) -> str:
    """:func:`payload_id` of a dead letter's record: given when cut short, else from its bytes."""
    if "payload_sha256" in record:
        return str(record["payload_sha256"])
    raw = record.get("payload_base64")
    return payload_id(base64.b64decode(raw) if raw else str(record["payload"]).encode())
