-- 001: pay ledger lines and the per-driver daily pay rollup written by the driverpay Flink job.
-- Applied by scripts/stack/postgres.sh as role driverpay, in one transaction, recorded in schema_migrations.

CREATE TABLE pay_lines (
    line_id          text PRIMARY KEY,
    kind             text        NOT NULL,
    order_id         text,
    driver_id        text        NOT NULL,
    zone             text,
    pay_date         date        NOT NULL,
    start_ts         timestamptz,
    end_ts           timestamptz,
    base_ms          bigint,
    weighted_ms      numeric,
    rate_per_minute  numeric,
    amount_cents     bigint      NOT NULL,
    amount           numeric(18, 4),
    currency         text        NOT NULL,
    zones_version    text,
    rule_version     text,
    reason           text,
    recorded_at      timestamptz DEFAULT now()
);
CREATE INDEX pay_lines_driver_date_idx ON pay_lines (driver_id, pay_date);

CREATE TABLE driver_daily_pay (
    driver_id    text        NOT NULL,
    pay_date     date        NOT NULL,
    total_cents  bigint      NOT NULL,
    currency     text        NOT NULL,
    line_count   int         NOT NULL,
    version      bigint      NOT NULL,
    final        boolean     NOT NULL DEFAULT false,
    post_final   boolean     NOT NULL DEFAULT false,
    as_of        timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (driver_id, pay_date)
);

-- updated_at = time of the last write, also for upserts (INSERT ... ON CONFLICT DO UPDATE) that do not name it.
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER driver_daily_pay_updated_at
    BEFORE INSERT OR UPDATE ON driver_daily_pay
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

GRANT SELECT ON pay_lines, driver_daily_pay TO driverpay_reader;
