-- name: top_talkers
-- description: The 50 source IPs with the most network flows since `since`, with how many
-- description: destinations and destination ports each reached.
-- param: since timestamp
SELECT source_ip,
       count(*) AS flows,
       count(DISTINCT destination_ip) AS destinations,
       count(DISTINCT destination_port) AS ports
FROM events
WHERE kind = 'network_traffic'
  AND event_time >= $since
  AND source_ip IS NOT NULL
GROUP BY source_ip
ORDER BY flows DESC, source_ip
LIMIT 50
