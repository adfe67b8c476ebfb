-- Fleet state (src/stages/fleet): the latest state of every controller, its online/offline
-- transitions, and every dead letter, queryable without Kafka tools. Written by the fleet
-- stage, read by anyone (the status page, the read API). Plain DDL: the same file serves the
-- TimescaleDB and the plain-PostgreSQL variant. See docs/architecture/fleet-state.md.

-- one row per controller that has ever been heard from, or is in the registry
CREATE TABLE IF NOT EXISTS device_state (
  device_id              text PRIMARY KEY,     -- controller MAC, 12 lowercase hex (as iot_measurements.device_id)
  mode                   text,                 -- connector mode of its newest message ('sensor-mode', ...), null if unknown
  online                 boolean NOT NULL,
  last_seen              timestamptz,          -- connector receipt time of its newest message (raw stream), null if never
  since                  timestamptz NOT NULL, -- when `online` last changed
  offline_reason         text,                 -- 'silent' (no message for threshold) | 'will' (MQTT last will) | null when online
  expected_interval_s    integer NOT NULL,     -- from the registry (default or per controller)
  last_values            jsonb NOT NULL DEFAULT '[]'::jsonb,
      -- array of {connector, connector_mode, datapoint_label, pin_position, value, value_text, unit, timestamp}
      -- one per distinct (connector, connector_mode, datapoint_label, pin_position): its newest reading
  rows_last_hour         integer NOT NULL DEFAULT 0,
  dead_letters_last_hour integer NOT NULL DEFAULT 0,
  updated_at             timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS device_state_online_idx ON device_state (online, device_id);

-- every transition online -> offline -> online
CREATE TABLE IF NOT EXISTS device_state_events (
  device_id text NOT NULL,
  time      timestamptz NOT NULL,
  online    boolean NOT NULL,          -- the new state
  reason    text NOT NULL,             -- 'message' | 'silent' | 'will'
  PRIMARY KEY (device_id, time, online)
);

-- every dead letter from iot_dead_letter, queryable without Kafka tools
CREATE TABLE IF NOT EXISTS dead_letters (
  partition   integer NOT NULL,
  "offset"    bigint NOT NULL,
  failed_at   timestamptz NOT NULL,
  reason      text NOT NULL,           -- F2_* code
  stage       text NOT NULL,           -- connector | processor | sink
  device_id   text,                    -- MAC when known (from the MQTT topic f2-<mac>), else null
  mqtt_topic  text,
  message     text NOT NULL,
  record      jsonb NOT NULL,          -- the whole dead-letter record as on the topic
  PRIMARY KEY (partition, "offset")
);
CREATE INDEX IF NOT EXISTS dead_letters_failed_at_idx ON dead_letters (failed_at DESC);
CREATE INDEX IF NOT EXISTS dead_letters_device_idx ON dead_letters (device_id, failed_at DESC);
CREATE INDEX IF NOT EXISTS dead_letters_reason_idx ON dead_letters (reason, failed_at DESC);
