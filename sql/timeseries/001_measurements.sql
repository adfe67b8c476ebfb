-- Measurements table: the seed's columns plus the connector number, text values, the
-- registry ids of the reading and its receive/ingest times. A table created by the seed
-- is adopted: missing columns are added and its key, which had no connector (sensor-1 on
-- J1 and sensor-1 on J2 of one controller collided at the same instant), is replaced.

CREATE TABLE IF NOT EXISTS iot_measurements (
  "timestamp" timestamptz NOT NULL,
  device_id text NOT NULL,
  connector_mode text NOT NULL DEFAULT 'unknown',
  datapoint_label text NOT NULL DEFAULT 'unknown',
  pin_position text NOT NULL DEFAULT '-1',
  value double precision,
  unit text DEFAULT '',
  topic text DEFAULT '',
  -- 0 = unknown (e.g. rows adopted from the seed, which did not record it)
  connector smallint NOT NULL DEFAULT 0,
  value_text text,
  sensor_device_id integer,
  datapoint_id integer,
  received_at timestamptz,
  ingested_at timestamptz DEFAULT now(),
  CONSTRAINT iot_measurements_pkey
    PRIMARY KEY ("timestamp", device_id, connector, connector_mode, datapoint_label, pin_position)
);

ALTER TABLE iot_measurements
  ADD COLUMN IF NOT EXISTS connector smallint NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS value_text text,
  ADD COLUMN IF NOT EXISTS sensor_device_id integer,
  ADD COLUMN IF NOT EXISTS datapoint_id integer,
  ADD COLUMN IF NOT EXISTS received_at timestamptz,
  ADD COLUMN IF NOT EXISTS ingested_at timestamptz DEFAULT now();

DO $$
DECLARE
  pk_name text;
  pk_has_connector boolean;
BEGIN
  SELECT c.conname,
         EXISTS (SELECT 1 FROM unnest(c.conkey) AS k (attnum)
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
                 WHERE a.attname = 'connector')
    INTO pk_name, pk_has_connector
  FROM pg_constraint c
  WHERE c.conrelid = 'iot_measurements'::regclass AND c.contype = 'p';

  IF pk_name IS NULL OR NOT pk_has_connector THEN
    IF pk_name IS NOT NULL THEN
      EXECUTE format('ALTER TABLE iot_measurements DROP CONSTRAINT %I', pk_name);
    END IF;
    ALTER TABLE iot_measurements ADD CONSTRAINT iot_measurements_pkey
      PRIMARY KEY ("timestamp", device_id, connector, connector_mode, datapoint_label, pin_position);
  END IF;
END
$$;

CREATE INDEX IF NOT EXISTS iot_measurements_device_id_timestamp_idx
  ON iot_measurements (device_id, "timestamp" DESC);
CREATE INDEX IF NOT EXISTS iot_measurements_datapoint_label_timestamp_idx
  ON iot_measurements (datapoint_label, "timestamp" DESC);
CREATE INDEX IF NOT EXISTS iot_measurements_connector_mode_timestamp_idx
  ON iot_measurements (connector_mode, "timestamp" DESC);
