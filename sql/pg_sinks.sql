-- PostgreSQL read model, written by the streaming job through the JDBC connector.
-- Both inserts are upserts on the table's primary key, so a replay after a crash rewrites the
-- same rows (pay_lines) or moves a day forward again to the same final version (driver_daily_pay).
-- `ledger_json` and `daily_json` are views over the job's JSON output streams (column `json`).
-- Each SELECT lists the sink table's columns in table order: jobs/pg_schema.py derives those
-- from sql/migrations, and tests/unit/test_pg_schema.py fails when this file and they disagree.

INSERT INTO pg_pay_lines
SELECT
    JSON_VALUE(json, '$.line_id'),
    JSON_VALUE(json, '$.kind'),
    JSON_VALUE(json, '$.order_id'),
    JSON_VALUE(json, '$.driver_id'),
    JSON_VALUE(json, '$.zone'),
    CAST(JSON_VALUE(json, '$.pay_date') AS DATE),
    TO_TIMESTAMP(REPLACE(REPLACE(JSON_VALUE(json, '$.start'), 'T', ' '), 'Z', '')),
    TO_TIMESTAMP(REPLACE(REPLACE(JSON_VALUE(json, '$.end'), 'T', ' '), 'Z', '')),
    CAST(JSON_VALUE(json, '$.base_ms') AS BIGINT),
    CAST(JSON_VALUE(json, '$.weighted_ms') AS DECIMAL(38, 6)),
    CAST(JSON_VALUE(json, '$.rate_per_minute') AS DECIMAL(38, 6)),
    CAST(JSON_VALUE(json, '$.amount_minor') AS BIGINT),
    CAST(JSON_VALUE(json, '$.amount') AS DECIMAL(18, 4)),
    JSON_VALUE(json, '$.currency'),
    JSON_VALUE(json, '$.zones_version'),
    JSON_VALUE(json, '$.rule_version'),
    JSON_VALUE(json, '$.reason'),
    TO_TIMESTAMP(REPLACE(REPLACE(JSON_VALUE(json, '$.interval_start'), 'T', ' '), 'Z', '')),
    TO_TIMESTAMP(REPLACE(REPLACE(JSON_VALUE(json, '$.interval_end'), 'T', ' '), 'Z', '')),
    JSON_VALUE(json, '$.start_event_id'),
    JSON_VALUE(json, '$.end_event_id'),
    JSON_VALUE(json, '$.end_type'),
    JSON_VALUE(json, '$.schedule_version')
FROM ledger_json;

INSERT INTO pg_driver_daily_pay
SELECT
    JSON_VALUE(json, '$.driver_id'),
    CAST(JSON_VALUE(json, '$.pay_date') AS DATE),
    CAST(JSON_VALUE(json, '$.total_cents') AS BIGINT),
    JSON_VALUE(json, '$.currency'),
    CAST(JSON_VALUE(json, '$.line_count') AS INT),
    CAST(JSON_VALUE(json, '$.version') AS BIGINT),
    CAST(JSON_VALUE(json, '$.final') AS BOOLEAN),
    CAST(JSON_VALUE(json, '$.post_final') AS BOOLEAN),
    TO_TIMESTAMP(REPLACE(REPLACE(JSON_VALUE(json, '$.as_of'), 'T', ' '), 'Z', ''))
FROM daily_json;
