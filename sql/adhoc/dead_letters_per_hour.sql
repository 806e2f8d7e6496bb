-- Dead letters per hour and reason (topic order-events-dlq, committed records only). The reason
-- class is the text before the first ':' ("zone", "event_time", "invalid JSON", "internal error"
-- for poison records...); one example position per class. A dead letter carries no event time:
-- the hour is its Kafka record timestamp, UTC.
--   make sql QUERY=sql/adhoc/dead_letters_per_hour.sql

SELECT FLOOR(kafka_ts TO HOUR) AS `hour`,
       SPLIT_INDEX(reason, ':', 0) AS reason_class,
       COUNT(*) AS dead_letters,
       MIN(`position`) AS example_position
FROM order_events_dlq
GROUP BY FLOOR(kafka_ts TO HOUR), SPLIT_INDEX(reason, ':', 0)
ORDER BY `hour`, dead_letters DESC, reason_class;
