-- When the broker acknowledged a command's publication (PUBACK of its last MQTT message).
-- A command is claimed (accepted → sent) before it is published; a dispatcher killed between
-- the claim and the acknowledgement leaves it 'sent' with no published_at, and the dispatcher
-- that reads its record again (its offset was not committed) publishes it then, instead of
-- leaving it to expire unsent (docs/architecture/commands.md, "Delivery").
ALTER TABLE device_commands ADD COLUMN IF NOT EXISTS published_at timestamptz;
