"""Zones versions in motion: the history of versions, and their record on the ``zones`` topic.

Every zones document is one **version** (``Zones``): a content hash and an optional effective
instant. A :class:`ZonesHistory` holds the versions known so far and answers, per zone, which
version is in force at ``t``: the latest version, by effective time, whose effective time is
at or before ``t`` and that defines the zone (``None`` counts as "since forever"). An interval
is cut where a version takes effect that changes the zone's rate or peaks, and each piece is
priced by the version in force over it (:meth:`ZonesHistory.segments`). No two versions share
an effective time, so the answer depends only on the set of versions, never on the order they
arrived in: a replay that knows the same versions prices the same way the stream did
(docs/contracts.md §3, docs/design.md "Reference data in motion").

A version may add zones and change anything of a zone except its ``timezone`` and
``currency``: those define the days and the money already held in state, so a version that
changes them is refused (:class:`ZonesConflictError`, naming the zone) — that change needs a fresh
start. A version whose effective time another version already has is refused too (the first
one known wins: in the job and in a replay that is the submission's file, then topic order).
A zone missing from a version keeps its definition from earlier versions.

The record (``version_record``) is the one schema of a version on the wire and in the job's
broadcast state: canonical JSON ``{"document", "effective", "version"}`` where ``document`` is the
exact text of the zones file, whose hash ``version`` is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from itertools import pairwise
from typing import Any

from udfs.jsontext import refuse_constant
from udfs.timefmt import format_ms
from udfs.zones import MAX_ZONES_BYTES, Zone, Zones, ZonesError, bounded_repr, parse_zones

RECORD_KEYS = ("document", "effective", "version")
_SINCE_FOREVER = -(2**63)


class ZonesConflictError(ZonesError):
    """A version that cannot join the history: it changes a zone's timezone or currency."""


def effective_key(zones: Zones) -> tuple[int, str]:
    """Where a version sits in the history: effective time (none = since forever), then hash."""
    effective = _SINCE_FOREVER if zones.effective_ms is None else zones.effective_ms
    return (effective, zones.version)


class ZonesHistory(Mapping[str, Zone]):
    """Versions ordered by effective time; as a mapping, each zone's latest definition.

    The mapping side serves what no version may change (timezone, currency) and which zones
    exist; pricing asks :meth:`segments`.
    """

    __slots__ = ("_by_zone", "_cuts", "_latest", "_versions")

    def __init__(self, versions: Iterable[Zones] = ()) -> None:
        ordered: list[Zones] = []
        seen: dict[str, Zones] = {}
        for zones in versions:
            if zones.version in seen:
                continue
            check_compatible(zones, ordered)
            seen[zones.version] = zones
            ordered.append(zones)
        if not ordered:
            raise ZonesError("zones history: at least one version is required")
        ordered.sort(key=effective_key)
        self._versions: tuple[Zones, ...] = tuple(ordered)
        by_zone: dict[str, list[Zones]] = {}
        for zones in self._versions:
            for name in zones:
                by_zone.setdefault(name, []).append(zones)
        self._by_zone = by_zone
        self._cuts = {name: _pricing_changes(chain, name) for name, chain in by_zone.items()}
        self._latest = {name: chain[-1][name] for name, chain in by_zone.items()}

    @property
    def versions(self) -> tuple[Zones, ...]:
        """All versions, in effective order."""
        return self._versions

    def plus(self, zones: Zones) -> ZonesHistory:
        """The history with one more version (itself if already known); may raise a conflict."""
        if any(v.version == zones.version for v in self._versions):
            return self
        return ZonesHistory([*self._versions, zones])

    def governing(self, zone: str, start_ms: int) -> Zones:
        """The version in force for ``zone`` at the instant ``start_ms``.

        Before the first version that defines the zone takes effect, that first version applies
        (there is nothing else to pay with).
        """
        chain = self._by_zone[zone]
        chosen = chain[0]
        for zones in chain[1:]:
            if zones.effective_ms is not None and zones.effective_ms > start_ms:
                break
            chosen = zones
        return chosen

    def segments(self, zone: str, start_ms: int, end_ms: int) -> list[tuple[int, int, Zones]]:
        """``[start, end)`` cut where the zone's pricing changes: ``(start, end, version)``.

        Each piece is priced by the version in force at its start, so a minute worked after a
        correction takes effect is paid as corrected, whenever its interval began. A version
        that leaves the zone's rate and peaks as they were (one that corrects another zone)
        cuts nothing: a cut adds a line, and with it a rounding. Effective times only grow
        along the chain, so no version prices two pieces; an empty interval is one piece.
        """
        cuts = [t for t in self._cuts[zone] if start_ms < t < end_ms]
        bounds = [start_ms, *cuts, end_ms]
        return [(a, b, self.governing(zone, a)) for a, b in pairwise(bounds)]

    def __getitem__(self, name: str) -> Zone:
        return self._latest[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._latest)

    def __len__(self) -> int:
        return len(self._latest)


ZonesLike = Zones | ZonesHistory


def _pricing_changes(chain: list[Zones], name: str) -> tuple[int, ...]:
    """The effective times at which zone ``name``'s rate or peak schedule changes."""
    return tuple(
        after.effective_ms
        for before, after in pairwise(chain)
        if after.effective_ms is not None and _pricing(before[name]) != _pricing(after[name])
    )


def _pricing(zone: Zone) -> tuple[object, str]:
    """What prices a minute in ``zone``: its rate and its peaks' fingerprint."""
    return (zone.rate_per_minute, zone.schedule.version)


def check_compatible(zones: Zones, others: Iterable[Zones]) -> None:
    """Refuse ``zones`` if it changes a zone's timezone or currency, or reuses an effective time.

    Two versions with one effective time would leave the choice between them to their hashes:
    never what an operator meant.
    """
    others = list(others)
    for other in others:
        for name in sorted(set(zones) & set(other)):
            mine, theirs = zones[name], other[name]
            for field, old, new in (
                ("timezone", theirs.timezone.key, mine.timezone.key),
                ("currency", theirs.currency, mine.currency),
            ):
                if old != new:
                    raise ZonesConflictError(
                        f"zones.{name}.{field}: version {zones.version} changes {old} to {new} "
                        f"(version {other.version} has {old}); a zone's timezone and currency "
                        "define the days and money already in state, so this needs a fresh "
                        "start (docs/contracts.md §3)"
                    )
    for other in others:
        if other.effective_ms == zones.effective_ms and other.version != zones.version:
            when = "since forever" if zones.effective_ms is None else format_ms(zones.effective_ms)
            raise ZonesConflictError(
                f"effective: {when} is already the effective time of version {other.version}; "
                f"version {zones.version} needs another effective time"
            )


def version_record(zones: Zones) -> str:
    """The canonical JSON record of a version (the ``zones`` topic and broadcast state)."""
    try:
        document = zones.source.decode("utf-8")
    except UnicodeDecodeError:
        raise ZonesError("document: a zones document must be UTF-8 text") from None
    record = {
        "document": document,
        "effective": None if zones.effective_ms is None else format_ms(zones.effective_ms),
        "version": zones.version,
    }
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_version_record(payload: bytes | str | None) -> Zones:
    """A version from its record; its ``version`` and ``effective`` must match the document."""
    if payload is None:
        raise ZonesError("record: empty")
    if len(payload) > 2 * MAX_ZONES_BYTES:
        raise ZonesError(f"record: larger than {2 * MAX_ZONES_BYTES} bytes")
    try:
        record: Any = json.loads(payload, parse_constant=refuse_constant)
    except (ValueError, RecursionError):
        raise ZonesError("record: not JSON") from None
    if not isinstance(record, dict) or sorted(record) != list(RECORD_KEYS):
        raise ZonesError(f"record: must be a JSON object with exactly {list(RECORD_KEYS)}")
    document = record["document"]
    if not isinstance(document, str):
        raise ZonesError("document: must be the zones document's text")
    zones = parse_zones(document.encode("utf-8"), source="document")
    if record["version"] != zones.version:
        raise ZonesError(
            f"version: {bounded_repr(record['version'])} is not the document's hash "
            f"({zones.version})"
        )
    effective = None if zones.effective_ms is None else format_ms(zones.effective_ms)
    if record["effective"] != effective:
        raise ZonesError(
            f"effective: {bounded_repr(record['effective'])} differs from the document's"
        )
    return zones


def with_effective(data: bytes, effective_ms: int) -> bytes:
    """The document with a top-level ``effective`` line appended (refused if it has one).

    The effective time is part of the document, so it is part of the version's hash: the same
    file published with two effective times is two versions, never one key with two meanings.
    """
    zones = parse_zones(data)
    if zones.effective_ms is not None:
        raise ZonesError("effective: the document already sets one; drop --effective")
    text = data if data.endswith(b"\n") or not data else data + b"\n"
    return text + f'effective: "{format_ms(effective_ms)}"\n'.encode()


def history_of(documents: Iterable[bytes], records: Iterable[bytes | str] = ()) -> ZonesHistory:
    """A history from zones documents (files) and version records (topic lines)."""
    versions = [parse_zones(d) for d in documents]
    versions += [parse_version_record(r) for r in records]
    return ZonesHistory(versions)


def history_from(document: bytes, records: Iterable[bytes | str] = ()) -> ZonesHistory:
    """The running job's view of the versions: its submission's document, then each record.

    Records are taken in topic order; one that is not a valid version, or that conflicts with
    the versions before it, is skipped, exactly as the job's lifecycle stage skips it.
    """
    history = ZonesHistory([parse_zones(document)])
    for record in records:
        try:
            history = history.plus(parse_version_record(record))
        except ZonesError:
            continue
    return history
