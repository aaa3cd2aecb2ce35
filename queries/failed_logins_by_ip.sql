-- name: failed_logins_by_ip
-- description: Source IPs with at least min_count failed logins since `since`, most failures
-- description: first, with how many accounts they tried.
-- param: since timestamp
-- param: min_count int default 5
SELECT source_ip,
       count(*) AS failures,
       count(DISTINCT user_name) AS users,
       min(event_time) AS first_seen,
       max(event_time) AS last_seen
FROM events
WHERE event_outcome = 'failure'
  AND event_time >= $since
  AND source_ip IS NOT NULL
  AND (event_action LIKE '%login%' OR event_action LIKE '%logon%' OR event_action LIKE '%auth%')
GROUP BY source_ip
HAVING count(*) >= $min_count
ORDER BY failures DESC, source_ip
