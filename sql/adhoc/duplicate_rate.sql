-- Duplicate rate per hour of event time: records received on order-events (every JSON object,
-- valid or not) against the duplicates the job dropped (order-events-audit, kind DUPLICATE: same
-- event_id seen before for the order). The last row is the whole topic.
--   make sql QUERY=sql/adhoc/duplicate_rate.sql

WITH received AS (
    SELECT FLOOR(event_ts TO HOUR) AS event_hour, COUNT(*) AS records
    FROM order_events
    GROUP BY FLOOR(event_ts TO HOUR)
), dropped AS (
    SELECT FLOOR(event_time TO HOUR) AS event_hour, COUNT(*) AS duplicates
    FROM order_events_audit
    WHERE kind = 'DUPLICATE'
    GROUP BY FLOOR(event_time TO HOUR)
), hourly AS (
    SELECT CAST(r.event_hour AS STRING) AS event_hour, r.records,
           COALESCE(d.duplicates, 0) AS duplicates
    FROM received AS r
    LEFT JOIN dropped AS d ON d.event_hour = r.event_hour
)
SELECT event_hour, records, duplicates,
       CAST(100.0 * duplicates / records AS DECIMAL(6, 2)) AS duplicate_pct
FROM (
    SELECT event_hour, records, duplicates FROM hourly
    UNION ALL
    SELECT 'all', SUM(records), SUM(duplicates) FROM hourly
)
ORDER BY event_hour = 'all', event_hour;
