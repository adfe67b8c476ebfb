import type { MigrationTarget } from './migrate.ts'

/**
 * The database roles of the project (docs/operations/deployment-security.md). Each database
 * has an owner, which owns the schema, runs the migrations and the registry admin CLI, and
 * login roles with the least each service needs. The roles themselves are created by whoever
 * holds the server's superuser (the native stack's bootstrap, the compose init script); the
 * owner grants them their rights on the tables with `grantsSql` after every migration run.
 */
export const DB_ROLES = {
  registry: {
    /** Owns the registry: migrations, registry CLI, temporary test databases (CREATEDB). */
    owner: 'iot_user',
    /** The processor: reads the registry (SELECT, LISTEN), writes nothing. */
    processor: 'iot_processor',
    /** The API: SELECT, UPDATE of api_tokens.last_used_at alone, INSERT of commands, their events and audit. */
    api: 'iot_api',
    /** Health monitor, simulator, exporter, dashboards: SELECT only (and pg_monitor). */
    reader: 'iot_reader',
    /** The command dispatcher: moves commands on from `accepted` (UPDATE of the state columns, INSERT of events) and keeps its outbox. */
    dispatcher: 'iot_dispatcher'
  },
  timeseries: {
    owner: 'ts_user',
    /** The sink: INSERT into iot_measurements and a TEMP staging table, nothing else. */
    sink: 'ts_sink',
    /**
     * The fleet state stage: reads back and upserts device_state, appends device_state_events
     * and dead_letters. Its registry reads go through the registry's `reader`.
     */
    fleet: 'ts_fleet',
    reader: 'ts_reader'
  }
} as const

export type RegistryRole = keyof typeof DB_ROLES.registry
export type TimeseriesRole = keyof typeof DB_ROLES.timeseries

/** Runs `body` (PL/pgSQL) only when role `role` exists: a database without it stays as it is. */
function ifRole (role: string, body: string): string {
  return `  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}') THEN\n${body}\n  END IF;`
}

/**
 * The grants the owner gives the service roles on `target`, run by the migration runner after
 * every run (GRANT and REVOKE are idempotent), so a table a later migration adds gets them
 * too. Default privileges cover tables created by the owner between two runs. PUBLIC keeps
 * nothing on the database: only the roles named here may connect.
 */
export function grantsSql (target: MigrationTarget): string {
  const reader = DB_ROLES[target].reader
  const worker = target === 'registry' ? DB_ROLES.registry.processor : DB_ROLES.timeseries.sink
  const db = 'current_database()'
  // Database-level rights are left alone on a template database (an embedded server runs in
  // template1): nobody logs in there, and new databases would inherit nothing from it anyway.
  const onDatabase = (privileges: string, to: string): string =>
    `IF NOT template THEN EXECUTE format('${privileges} ON DATABASE %I ${to}', ${db}); END IF;`
  const common = [
    `  ${onDatabase('REVOKE ALL', 'FROM PUBLIC')}`,
    '  REVOKE CREATE ON SCHEMA public FROM PUBLIC;',
    ifRole(reader, [
      `    ${onDatabase('GRANT CONNECT', `TO ${reader}`)}`,
      `    GRANT USAGE ON SCHEMA public TO ${reader};`,
      `    GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${reader};`,
      `    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO ${reader};`
    ].join('\n'))
  ]
  const specific = target === 'registry'
    // The processor resolves definitions from every registry table and LISTENs (no privilege needed).
    ? ifRole(worker, [
        `    ${onDatabase('GRANT CONNECT', `TO ${worker}`)}`,
        `    GRANT USAGE ON SCHEMA public TO ${worker};`,
        `    GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${worker};`,
        `    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO ${worker};`
      ].join('\n'))
    // The sink copies each batch into a TEMP staging table (TEMPORARY), then INSERT … ON
    // CONFLICT DO NOTHING into iot_measurements: no UPDATE, no DELETE. When rows were skipped
    // it reads the stored value of those keys, to tell a conflicting duplicate (dead letter)
    // from an identical redelivery, hence SELECT. Table-wide: TimescaleDB passes a grant on a
    // hypertable on to its compressed twin, which has none of the columns a column grant names.
    : ifRole(worker, [
        `    ${onDatabase('GRANT CONNECT, TEMPORARY', `TO ${worker}`)}`,
        `    GRANT USAGE ON SCHEMA public TO ${worker};`,
        `    IF to_regclass('public.iot_measurements') IS NOT NULL THEN GRANT INSERT, SELECT ON iot_measurements TO ${worker}; END IF;`
      ].join('\n'))
  const api = target === 'registry'
    // The API reads the registry (wiring, tokens), stamps a token's last use and records the
    // commands it accepts (their first state and the audit trail); it never changes a command.
    ? [ifRole(DB_ROLES.registry.api, [
        `    ${onDatabase('GRANT CONNECT', `TO ${DB_ROLES.registry.api}`)}`,
        `    GRANT USAGE ON SCHEMA public TO ${DB_ROLES.registry.api};`,
        `    GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${DB_ROLES.registry.api};`,
        `    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO ${DB_ROLES.registry.api};`,
        `    IF to_regclass('public.api_tokens') IS NOT NULL THEN GRANT UPDATE (last_used_at) ON api_tokens TO ${DB_ROLES.registry.api}; END IF;`,
        `    IF to_regclass('public.device_commands') IS NOT NULL THEN GRANT INSERT ON device_commands, device_command_events, command_audit TO ${DB_ROLES.registry.api}; END IF;`
      ].join('\n'))]
    : []
  const dispatcher = DB_ROLES.registry.dispatcher
  const commands = target === 'registry'
    // The dispatcher reads commands and changes their state columns alone; the request, the
    // token and the times of acceptance stay as the API wrote them. Its outbox (MQTT.js's
    // outgoing store): rows inserted, moved on (cmd and its times alone) and pruned. Nothing
    // else of the registry.
    ? [ifRole(dispatcher, [
        `    ${onDatabase('GRANT CONNECT', `TO ${dispatcher}`)}`,
        `    GRANT USAGE ON SCHEMA public TO ${dispatcher};`,
        `    IF to_regclass('public.device_commands') IS NOT NULL THEN`,
        `      GRANT SELECT, UPDATE (state, sent_at, published_at, confirmed_at, failed_at, expired_at, reply, failure) ON device_commands TO ${dispatcher};`,
        `      GRANT INSERT ON device_command_events TO ${dispatcher};`,
        '    END IF;',
        `    IF to_regclass('public.command_outbox') IS NOT NULL THEN GRANT SELECT, INSERT, DELETE, UPDATE (cmd, received_at, completed_at) ON command_outbox TO ${dispatcher}; END IF;`
      ].join('\n'))]
    : []
  const fleet = target === 'timeseries'
    // The fleet stage loads every device_state row at start and upserts it (ON CONFLICT DO
    // UPDATE reads the conflicting row: SELECT); transitions and dead letters are only
    // appended (ON CONFLICT DO NOTHING: INSERT alone). No DELETE, no other table.
    ? [ifRole(DB_ROLES.timeseries.fleet, [
        `    ${onDatabase('GRANT CONNECT', `TO ${DB_ROLES.timeseries.fleet}`)}`,
        `    GRANT USAGE ON SCHEMA public TO ${DB_ROLES.timeseries.fleet};`,
        `    IF to_regclass('public.device_state') IS NOT NULL THEN GRANT SELECT, INSERT, UPDATE ON device_state TO ${DB_ROLES.timeseries.fleet}; END IF;`,
        `    IF to_regclass('public.device_state_events') IS NOT NULL THEN GRANT INSERT ON device_state_events TO ${DB_ROLES.timeseries.fleet}; END IF;`,
        `    IF to_regclass('public.dead_letters') IS NOT NULL THEN GRANT INSERT ON dead_letters TO ${DB_ROLES.timeseries.fleet}; END IF;`
      ].join('\n'))]
    : []
  return `DO $$
DECLARE
  template boolean := (SELECT datistemplate FROM pg_database WHERE datname = ${db});
BEGIN
${[...common, specific, ...api, ...commands, ...fleet].join('\n')}
END $$`
}
