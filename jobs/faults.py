"""Deliberate pay bugs, for tests of the detect-and-correct path. Never on by default.

``DRIVERPAY_TEST_FAULT=overpay-peaks`` makes a job price every peak segment at ``2m - 1``
instead of ``m`` (a peak's extra pay counted twice) while recording the same zones version on
its lines — exactly what a shipped code bug looks like: the reference data is right, the pay is
not. ``driverpay reconcile`` must find it from the archive and correct it with adjustments.
"""

from __future__ import annotations

import os
from dataclasses import replace

from udfs.schedule import PeakSchedule, PeakWindow
from udfs.zones import Zones

FAULT_ENV = "DRIVERPAY_TEST_FAULT"
OVERPAY_PEAKS = "overpay-peaks"


def overpaying_peaks(zones: Zones) -> Zones:
    """The same zones (and version), with every peak's excess over the base rate doubled."""
    faulty = {}
    for name, zone in zones.items():
        if not isinstance(zone.schedule, PeakSchedule):  # a test-only bug, for dated windows
            raise ValueError(f"{OVERPAY_PEAKS}: zone {name} has weekly windows (unsupported)")
        windows = [PeakWindow(s, e, 2 * m - 1) for s, e, m in zone.schedule.segments() if m > 1]
        faulty[name] = replace(zone, schedule=PeakSchedule(windows))
    return Zones(zones.version, faulty)


def pricing_zones(zones: Zones) -> Zones:
    """The zones a job prices with: ``zones``, unless a test asked for a fault."""
    fault = os.environ.get(FAULT_ENV, "")
    if not fault:
        return zones
    if fault == OVERPAY_PEAKS:
        return overpaying_peaks(zones)
    raise ValueError(f"{FAULT_ENV}: unknown fault {fault!r} (known: {OVERPAY_PEAKS})")
