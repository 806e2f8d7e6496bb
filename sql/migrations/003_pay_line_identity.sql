-- 003: the identity of the interval each pay line pays for, so a line read back from PostgreSQL is
-- the line that was streamed (same interval key, same record). `driverpay reconcile` rebuilds
-- reversals from these rows, and the daily stage only accepts a reversal whose interval key is
-- in effect: without these columns a rebuilt key falls back to the line's own bounds and empty
-- event ids, which differs from the streamed key for every line.
-- Nullable: rows written before this migration keep NULL (readers fall back as before).
-- Grants: 002 grants table-level privileges, which cover columns added later; nothing to add
-- (tests/api/test_reconcile_postgres.py checks the writer and the reader on the new columns).
-- Applied by scripts/stack/postgres.sh as driverpay_owner, in one transaction.

ALTER TABLE pay_lines
    ADD COLUMN interval_start    timestamptz,
    ADD COLUMN interval_end      timestamptz,
    ADD COLUMN start_event_id    text,
    ADD COLUMN end_event_id      text,
    ADD COLUMN end_type          text,
    ADD COLUMN schedule_version  text;
