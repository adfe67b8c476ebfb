-- Plain-PostgreSQL twin of the continuous aggregate: same name, columns and buckets
-- (hours in UTC, as time_bucket cuts them), computed on read.

CREATE OR REPLACE VIEW iot_hourly_stats AS
SELECT date_trunc('hour', "timestamp" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS bucket,
       device_id,
       connector,
       datapoint_label,
       pin_position,
       unit,
       avg(value) AS avg_value,
       min(value) AS min_value,
       max(value) AS max_value,
       count(*) AS sample_count
FROM iot_measurements
WHERE value IS NOT NULL
GROUP BY 1, device_id, connector, datapoint_label, pin_position, unit;
