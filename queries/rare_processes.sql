-- name: rare_processes
-- description: Processes seen on at most max_hosts hosts since `since`: candidates for
-- description: living-off-the-land tools and implants. Fewest hosts first.
-- param: since timestamp
-- param: max_hosts int default 2
SELECT process_name,
       count(DISTINCT host_name) AS hosts,
       count(*) AS events,
       min(event_time) AS first_seen,
       max(event_time) AS last_seen
FROM events
WHERE process_name IS NOT NULL
  AND event_time >= $since
GROUP BY process_name
HAVING count(DISTINCT host_name) <= $max_hosts
ORDER BY hosts, events, process_name
