-- name: events_for_ip
-- description: Every event with `ip` as source or destination since `since`, in time order:
-- description: the pivot from an alert to what else an address did.
-- param: ip ip
-- param: since timestamp
SELECT position, event_time, kind, source, host_name, source_ip, source_port,
       destination_ip, destination_port, user_name, event_action, event_outcome, message
FROM events
WHERE (source_ip = $ip OR destination_ip = $ip)
  AND event_time >= $since
ORDER BY event_time, position
