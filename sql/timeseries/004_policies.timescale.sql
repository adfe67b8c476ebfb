-- Compression and retention. Intervals come from settings (src/storage/migrate.ts sets
-- them from its options; ALTER DATABASE ... SET f2.compress_after = '...' works too):
--   f2.compress_after  default '7 days'    ('off' = no compression policy)
--   f2.retain_for      default '365 days'  ('off' = keep forever)
-- They are read when this migration is applied; to change a policy later use
-- remove_compression_policy / add_compression_policy (and the retention pair).

ALTER TABLE iot_measurements SET (
  timescaledb.compress,
  timescaledb.compress_segmentby = 'device_id',
  timescaledb.compress_orderby = '"timestamp" DESC'
);

DO $$
DECLARE
  compress_after text := coalesce(nullif(current_setting('f2.compress_after', true), ''), '7 days');
  retain_for text := coalesce(nullif(current_setting('f2.retain_for', true), ''), '365 days');
BEGIN
  IF lower(compress_after) <> 'off' THEN
    PERFORM add_compression_policy('iot_measurements', compress_after::interval, if_not_exists => true);
  END IF;
  IF lower(retain_for) <> 'off' THEN
    PERFORM add_retention_policy('iot_measurements', retain_for::interval, if_not_exists => true);
  END IF;
END
$$;
