-- Plain-PostgreSQL twin of the continuous aggregate: same name, columns and buckets
-- (hours in UTC, as time_bucket cuts them), computed on read.

CREATE OR REPLACE VIEW iot_hourly_stats AS
SELECT date_trunc('hour', "timestamp" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS bucket,
-- migrate:include hourly_stats_columns.sql
GROUP BY 1, device_id, connector, datapoint_label, pin_position, unit;
