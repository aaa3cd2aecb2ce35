-- name: new_users
-- description: Accounts first seen at or after `since`, looking back to `lookback` for earlier
-- description: activity: new or dormant accounts coming to life.
-- param: since timestamp
-- param: lookback timestamp
SELECT user_name,
       min(event_time) AS first_seen,
       count(*) AS events,
       count(DISTINCT host_name) AS hosts,
       count(DISTINCT source_ip) AS source_ips
FROM events
WHERE user_name IS NOT NULL
  AND event_time >= $lookback
GROUP BY user_name
HAVING min(event_time) >= $since
ORDER BY first_seen DESC, user_name
