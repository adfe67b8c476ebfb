-- Hourly avg / min / max / count per data point in [$1, $2) (timestamptz), oldest first.
SELECT bucket, device_id, connector, pin_position, datapoint_label, unit,
       avg_value, min_value, max_value, sample_count
FROM iot_hourly_stats
WHERE bucket >= $1 AND bucket < $2
ORDER BY bucket, device_id, connector, pin_position, datapoint_label, unit;
