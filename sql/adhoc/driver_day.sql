-- A driver's day from the read model (PostgreSQL, as driverpay_reader): every pay line, then the
-- day's total with the sum of its lines next to it (they are equal: a total is the exact sum of
-- its rounded lines; REVERSAL lines are negative). Times are UTC.
--   make sql QUERY=sql/adhoc/driver_day.sql VARS="driver=d00001 date=2026-11-24"
-- ${driver} defaults to d00001
-- ${date} defaults to 2026-11-24

SELECT kind, order_id, start_ts, end_ts, amount, currency, reason
FROM pg_pay_lines
WHERE driver_id = '${driver}' AND pay_date = DATE '${date}'
ORDER BY start_ts, kind, line_id;

SELECT d.total_cents, d.currency, d.line_count, d.version, d.final, d.post_final, d.as_of,
       l.lines_cents
FROM pg_driver_daily_pay AS d
LEFT JOIN (
    SELECT driver_id, pay_date, SUM(amount_cents) AS lines_cents
    FROM pg_pay_lines
    WHERE driver_id = '${driver}' AND pay_date = DATE '${date}'
    GROUP BY driver_id, pay_date
) AS l ON l.driver_id = d.driver_id AND l.pay_date = d.pay_date
WHERE d.driver_id = '${driver}' AND d.pay_date = DATE '${date}';
