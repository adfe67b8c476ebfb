#!/usr/bin/env bash
# The project's database roles, created at a database's first start by the postgres image
# (mounted into /docker-entrypoint-initdb.d; it runs as the image's superuser, over the local
# socket). The same roles as the native stack's (src/storage/roles.ts): the owner, which owns
# the database and runs the migrations; the service role (processor or sink); the read-only
# role (health monitor, exporter, Grafana); optionally a second service role (the read API on
# the registry, the fleet-state stage on the time series) in F2_DB_SERVICE2_ROLE/_PASSWORD. Their rights on the tables are granted by the
# owner at the end of every migration run. Later password changes: ALTER ROLE, see
# docs/operations/deployment-security.md.
set -euo pipefail

for var in F2_DB_OWNER F2_DB_OWNER_PASSWORD F2_DB_SERVICE_ROLE F2_DB_SERVICE_PASSWORD F2_DB_READER_ROLE F2_DB_READER_PASSWORD; do
  if [ -z "${!var:-}" ]; then
    echo "init-roles: $var is not set" >&2
    exit 1
  fi
done

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v db="$POSTGRES_DB" \
  -v owner="$F2_DB_OWNER" -v owner_password="$F2_DB_OWNER_PASSWORD" \
  -v service="$F2_DB_SERVICE_ROLE" -v service_password="$F2_DB_SERVICE_PASSWORD" \
  -v reader="$F2_DB_READER_ROLE" -v reader_password="$F2_DB_READER_PASSWORD" <<'SQL'
CREATE ROLE :"owner" LOGIN CREATEDB PASSWORD :'owner_password';
CREATE ROLE :"service" LOGIN PASSWORD :'service_password';
CREATE ROLE :"reader" LOGIN PASSWORD :'reader_password';
-- The exporter reads the server's statistics as the read-only role.
GRANT pg_monitor TO :"reader";
-- The owner owns the database and (PostgreSQL 15) its public schema; nobody else may connect
-- until the owner's grants (after the first migration run) let the service roles in.
ALTER DATABASE :"db" OWNER TO :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL

# Further service roles, each optional: F2_DB_SERVICE2_ROLE/_PASSWORD, F2_DB_SERVICE3_ROLE/_PASSWORD.
for n in 2 3; do
  role_var="F2_DB_SERVICE${n}_ROLE"
  password_var="F2_DB_SERVICE${n}_PASSWORD"
  role="${!role_var:-}"
  password="${!password_var:-}"
  [ -n "$role" ] || continue
  if [ -z "$password" ]; then
    echo "init-roles: $password_var is not set" >&2
    exit 1
  fi
  psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v extra="$role" -v extra_password="$password" <<'SQL'
CREATE ROLE :"extra" LOGIN PASSWORD :'extra_password';
SQL
done
