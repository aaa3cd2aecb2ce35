-- name: port_scan_suspects
-- description: Source and destination pairs where the source touched at least min_ports
-- description: distinct destination ports since `since`.
-- param: since timestamp
-- param: min_ports int default 20
SELECT source_ip,
       destination_ip,
       count(DISTINCT destination_port) AS ports,
       count(*) AS attempts,
       min(event_time) AS first_seen
FROM events
WHERE event_time >= $since
  AND source_ip IS NOT NULL
  AND destination_port IS NOT NULL
GROUP BY source_ip, destination_ip
HAVING count(DISTINCT destination_port) >= $min_ports
ORDER BY ports DESC, source_ip, destination_ip
