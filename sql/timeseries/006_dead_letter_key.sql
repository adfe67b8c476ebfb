-- One row per dead-lettered message. The connector acknowledges an MQTT message only after
-- Kafka has its record, so a message whose connector died in between is delivered again and
-- dead-lettered again: two records on iot_dead_letter with the same message_key (a digest of
-- the MQTT topic and payload, see src/core/dead-letter.ts). The table keeps the first.
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS message_key text;
CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_message_key_idx ON dead_letters (message_key);
