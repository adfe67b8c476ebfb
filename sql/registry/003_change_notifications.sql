-- Every change to the tables the resolver reads raises NOTIFY registry_changed with the
-- table name, so caches (src/registry/store.ts) drop stale definitions at commit time.
-- Statement-level: a bulk fleet registration notifies once per statement, not per row,
-- and PostgreSQL folds identical notifications within one transaction.

CREATE OR REPLACE FUNCTION f2_registry_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('registry_changed', TG_TABLE_NAME);
  RETURN NULL;
END
$$;

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['Device', 'Connector', 'Pin', 'DeviceTemplate', 'DataPoint'] LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS f2_registry_changed ON %I', t);
    EXECUTE format(
      'CREATE TRIGGER f2_registry_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
      'FOR EACH STATEMENT EXECUTE FUNCTION f2_registry_changed()', t);
  END LOOP;
END
$$;
