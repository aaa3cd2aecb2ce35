-- name: metric_above_threshold
-- description: Samples of metric `metric` above `threshold` since `since`, in time order.
-- param: metric text
-- param: threshold float
-- param: since timestamp
SELECT time, name, labels, value
FROM metrics
WHERE name = $metric
  AND value > $threshold
  AND time >= $since
ORDER BY time
