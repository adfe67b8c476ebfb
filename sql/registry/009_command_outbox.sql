-- The dispatcher's outgoing MQTT store (src/stages/dispatcher/outbox.ts): every QoS 2
-- publication of a command from the moment MQTT.js is about to write it to the broker until
-- the broker's PUBCOMP, so a dispatcher killed in between resends exactly that packet, with
-- the same packet identifier, after its restart, and the broker (which keeps the identifier
-- in the dispatcher's persistent session until PUBREL) drops the repeat
-- (docs/architecture/commands.md, "Delivery").
--
-- One row per MQTT message of a command (a siren switch has two). Its insertion is the claim
-- of that publication: unique per (command_id, publication), so two dispatchers (a
-- consumer-group rebalance) can never both write it to the broker. A row is inserted before
-- its PUBLISH reaches the socket, so a command without one was never written.
-- device_commands.published_at (008) is recorded with the PUBCOMP of a command's last message.
CREATE TABLE IF NOT EXISTS command_outbox (
  outbox_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- the dispatcher's MQTT client id: packet identifiers belong to its session alone
  client_id    text NOT NULL,
  message_id   integer NOT NULL CHECK (message_id BETWEEN 1 AND 65535),
  command_id   uuid NOT NULL REFERENCES device_commands (command_id) ON DELETE CASCADE,
  -- its index among the command's MQTT messages (core/command.ts publications()), and their number
  publication  smallint NOT NULL CHECK (publication >= 0),
  publications smallint NOT NULL CHECK (publication < publications),
  -- what to resend (always QoS 2): a PUBLISH (no PUBREC yet) or, once the broker acknowledged receipt, a PUBREL.
  -- The message expiry of a resent PUBLISH is recomputed from device_commands.expires_at.
  cmd          text NOT NULL DEFAULT 'publish' CHECK (cmd IN ('publish', 'pubrel')),
  topic        text NOT NULL,
  payload      bytea NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  -- PUBREC received (the broker holds the message)
  received_at  timestamptz,
  -- PUBCOMP (or a refusal) received: nothing left to resend. Completed rows are pruned after
  -- the longest TTL; they are kept that long only to show what happened.
  completed_at timestamptz,
  UNIQUE (command_id, publication)
);
-- A packet identifier is in use in a session until its flow completes.
CREATE UNIQUE INDEX IF NOT EXISTS command_outbox_open_idx ON command_outbox (client_id, message_id) WHERE completed_at IS NULL;
CREATE INDEX IF NOT EXISTS command_outbox_completed_idx ON command_outbox (completed_at) WHERE completed_at IS NOT NULL;
