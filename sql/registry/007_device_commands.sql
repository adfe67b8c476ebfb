-- Cloud-to-device commands (src/core/command.ts, docs/api/README.md "Commands"). They live
-- in the registry database, beside the wiring they are validated against and the API tokens
-- that send them: a command row names its token, and the registry database is the one the
-- API already writes to. The time-series database holds measurements, written in bulk by
-- the sink, and keeps them for a retention period; a command history is small, transactional
-- and its states are updated one by one.

-- The mode each connector works in (f2-protocol.md); the seed's registry has no such column
-- (its "ConnectorTypeId" points nowhere). NULL = not recorded: such a connector takes no commands.
ALTER TABLE "Connector" ADD COLUMN IF NOT EXISTS "Mode" text
  CHECK ("Mode" IN ('access-control-mode', 'alarm-mode', 'sensor-mode'));

-- One row per accepted command, with its current state and the time of each step.
CREATE TABLE IF NOT EXISTS device_commands (
  command_id   uuid PRIMARY KEY,
  device_id    text NOT NULL CHECK (device_id ~ '^[0-9a-f]{12}$'),
  kind         text NOT NULL CHECK (kind IN ('strike', 'siren', 'reader-feedback', 'status')),
  -- the request as validated (kind, connector, position and the kind's fields)
  request      jsonb NOT NULL,
  token_id     text NOT NULL,
  state        text NOT NULL DEFAULT 'accepted' CHECK (state IN ('accepted', 'sent', 'confirmed', 'failed', 'expired')),
  ttl_s        integer NOT NULL CHECK (ttl_s BETWEEN 1 AND 3600),
  accepted_at  timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  sent_at      timestamptz,
  confirmed_at timestamptz,
  failed_at    timestamptz,
  expired_at   timestamptz,
  -- the controller's confirming reply, or why the command failed
  reply        jsonb,
  failure      text
);
CREATE INDEX IF NOT EXISTS device_commands_device_idx ON device_commands (device_id, accepted_at DESC, command_id DESC);
CREATE INDEX IF NOT EXISTS device_commands_open_idx ON device_commands (expires_at) WHERE state IN ('accepted', 'sent');

-- Every state change of a command, in order: its history.
CREATE TABLE IF NOT EXISTS device_command_events (
  event_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  command_id uuid NOT NULL REFERENCES device_commands (command_id) ON DELETE CASCADE,
  state      text NOT NULL CHECK (state IN ('accepted', 'sent', 'confirmed', 'failed', 'expired')),
  at         timestamptz NOT NULL DEFAULT now(),
  detail     jsonb
);
CREATE INDEX IF NOT EXISTS device_command_events_command_idx ON device_command_events (command_id, event_id);

-- Who asked for what: every command request that passed the token check, accepted or
-- refused with its error code. Kept apart from device_commands so a refused request (which
-- has no command) is recorded too, and so pruning commands never loses the audit trail.
CREATE TABLE IF NOT EXISTS command_audit (
  audit_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  token_id   text NOT NULL,
  device_id  text NOT NULL,
  -- the body as received (bounded by the API's body limit)
  request    jsonb,
  command_id uuid,
  outcome    text NOT NULL CHECK (outcome IN ('accepted', 'refused')),
  reason     text
);
CREATE INDEX IF NOT EXISTS command_audit_token_idx ON command_audit (token_id, at DESC);
