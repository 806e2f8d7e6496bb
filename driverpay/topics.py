"""Kafka topic names, partitions and configs: defined once (docs/contracts.md §5).

``scripts/stack/topics.sh`` creates the same list (a unit test compares them).
"""

from __future__ import annotations

ORDER_EVENTS = "order-events"
PAY_LEDGER = "pay-ledger"
DRIVER_DAILY_PAY = "driver-daily-pay"
DEAD_LETTER = "order-events-dlq"
QUARANTINE = "order-events-quarantine"
AUDIT = "order-events-audit"
PAY_CORRECTIONS = "pay-corrections"
ZONES = "zones"  # zones versions, keyed by version hash; compacted (docs/contracts.md §3)

PARTITIONS = {
    ORDER_EVENTS: 4,
    PAY_LEDGER: 2,
    DRIVER_DAILY_PAY: 2,
    DEAD_LETTER: 2,
    QUARANTINE: 2,
    AUDIT: 2,
    PAY_CORRECTIONS: 2,
    ZONES: 1,  # one partition: every reader sees the versions in one order
}
CONFIGS: dict[str, dict[str, str]] = {ZONES: {"cleanup.policy": "compact"}}
