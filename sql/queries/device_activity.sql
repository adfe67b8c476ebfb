-- Per device in [$1, $2) (timestamptz): first and last reading, readings, distinct data points.
SELECT device_id,
       min("timestamp") AS first_seen,
       max("timestamp") AS last_seen,
       count(*) AS readings,
       count(DISTINCT (connector, pin_position, datapoint_label)) AS datapoints
FROM iot_measurements
WHERE "timestamp" >= $1 AND "timestamp" < $2
GROUP BY device_id
ORDER BY device_id;
