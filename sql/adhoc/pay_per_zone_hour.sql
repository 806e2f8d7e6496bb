-- Pay per zone and hour (topic pay-ledger, committed lines, reversals and adjustments included:
-- amounts are signed). A line counts in the hour its paid time starts (UTC); lines are never
-- split at hour boundaries, so an hour's pay can include minutes of the next one.
--   make sql QUERY=sql/adhoc/pay_per_zone_hour.sql

SELECT zone,
       FLOOR(`start` TO HOUR) AS `hour`,
       currency,
       COUNT(*) AS lines,
       SUM(amount) AS pay,
       SUM(base_ms) / 60000 AS paid_minutes
FROM pay_ledger
GROUP BY zone, FLOOR(`start` TO HOUR), currency
ORDER BY zone, `hour`;
