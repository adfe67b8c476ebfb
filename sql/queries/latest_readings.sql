-- Newest reading of every data point of every device (connector / pin / label),
-- at or before $1 (timestamptz; pass now() for "current values").
SELECT DISTINCT ON (device_id, connector, pin_position, datapoint_label)
       device_id, connector, pin_position, datapoint_label, "timestamp", value, value_text, unit
FROM iot_measurements
WHERE "timestamp" <= $1
ORDER BY device_id, connector, pin_position, datapoint_label, "timestamp" DESC;
