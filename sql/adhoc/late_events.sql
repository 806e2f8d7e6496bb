-- Late-event volume per hour of event time (topic order-events-audit, kind LATE): events that
-- arrived behind their key's watermark (all of them are still applied), and how far behind, in
-- seconds. A growing volume means upstream delay beyond the job's 2-minute watermark bound.
--   make sql QUERY=sql/adhoc/late_events.sql

SELECT FLOOR(event_time TO HOUR) AS event_hour,
       COUNT(*) AS late_events,
       AVG(TIMESTAMPDIFF(SECOND, event_time, `watermark`)) AS avg_behind_s,
       MAX(TIMESTAMPDIFF(SECOND, event_time, `watermark`)) AS max_behind_s
FROM order_events_audit
WHERE kind = 'LATE'
GROUP BY FLOOR(event_time TO HOUR)
ORDER BY event_hour;
