-- Bearer tokens of the read API (src/stages/api/, docs/api/README.md). A token is shown
-- once, when `token create` makes it, and never stored: only the SHA-256 of its secret part
-- is kept. The public id (the token's second part) finds the row; the hash is then compared
-- in constant time. Scopes are validated by the code that creates tokens (src/stages/api/
-- tokens.ts), not by a CHECK here, so a later scope needs no migration.
-- No change notification: the API reads the row on every request, a revocation takes
-- effect at the next one.

CREATE TABLE IF NOT EXISTS api_tokens (
  token_id     text PRIMARY KEY CHECK (token_id ~ '^[0-9a-f]{12}$'),
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  secret_hash  bytea NOT NULL CHECK (octet_length(secret_hash) = 32),
  scopes       text[] NOT NULL CHECK (cardinality(scopes) >= 1),
  created_at   timestamptz NOT NULL DEFAULT now(),
  revoked_at   timestamptz,
  last_used_at timestamptz
);
