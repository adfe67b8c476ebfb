-- Hourly statistics as a continuous aggregate. materialized_only = false (real-time
-- aggregation) makes the not yet materialised recent hours visible too, so queries
-- return the same answers as the plain-PostgreSQL view of the same name.
-- A seed-era iot_hourly_stats without the connector column is replaced.

DO $$
DECLARE
  rel regclass := to_regclass('iot_hourly_stats');
BEGIN
  IF rel IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM pg_attribute WHERE attrelid = rel AND attname = 'connector' AND NOT attisdropped
  ) THEN
    DROP MATERIALIZED VIEW iot_hourly_stats CASCADE;
  END IF;
END
$$;

CREATE MATERIALIZED VIEW IF NOT EXISTS iot_hourly_stats
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', "timestamp") AS bucket,
-- migrate:include hourly_stats_columns.sql
GROUP BY bucket, device_id, connector, datapoint_label, pin_position, unit
WITH NO DATA;

SELECT add_continuous_aggregate_policy(
  'iot_hourly_stats',
  start_offset => coalesce(nullif(current_setting('f2.hourly_refresh_start_offset', true), ''), '3 days')::interval,
  end_offset => INTERVAL '1 hour',
  schedule_interval => coalesce(nullif(current_setting('f2.hourly_refresh_interval', true), ''), '30 minutes')::interval,
  if_not_exists => true
);
