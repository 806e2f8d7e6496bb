"""The pure core of driverpay: pay rules, schedules, lifecycles and the ledger.

Nothing in this package imports pyflink; the Flink adapters in ``jobs/`` wrap it.
"""
