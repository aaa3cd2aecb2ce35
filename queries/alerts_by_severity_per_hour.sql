-- name: alerts_by_severity_per_hour
-- description: Alert counts per hour and severity since `since`, for a stacked chart.
-- param: since timestamp
SELECT date_bin(INTERVAL '1 hour', event_time, TIMESTAMP '1970-01-01T00:00:00Z') AS hour,
       severity,
       count(*) AS alerts
FROM events
WHERE kind = 'alert'
  AND event_time >= $since
GROUP BY 1, 2
ORDER BY 1, 2
