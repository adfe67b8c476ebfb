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
