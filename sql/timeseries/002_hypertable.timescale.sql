-- Hypertable on "timestamp". Chunk size from the setting f2.chunk_time_interval
-- (see src/storage/migrate.ts), 1 day by default so compression and retention act
-- on day-sized pieces. migrate_data adopts a seed table that already holds rows.

SELECT create_hypertable(
  'iot_measurements', 'timestamp',
  chunk_time_interval => coalesce(nullif(current_setting('f2.chunk_time_interval', true), ''), '1 day')::interval,
  if_not_exists => true,
  migrate_data => true
);
