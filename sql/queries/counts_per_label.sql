-- Readings per data point label in [$1, $2) (timestamptz): all rows, numeric rows, devices.
SELECT datapoint_label,
       count(*) AS readings,
       count(value) AS numeric_readings,
       count(DISTINCT device_id) AS devices
FROM iot_measurements
WHERE "timestamp" >= $1 AND "timestamp" < $2
GROUP BY datapoint_label
ORDER BY datapoint_label;
