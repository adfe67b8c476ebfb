import type postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect } from '../../src/storage/connection.ts'
import { TimeseriesWriter } from '../../src/storage/timeseries-writer.ts'
import { FleetStore, loadIntervals } from '../../src/stages/fleet/store.ts'
import type { DeviceStateRecord } from '../../src/stages/fleet/state.ts'
import type { DeadLetterRow } from '../../src/stages/fleet/records.ts'
import { roleUrl, stackEnv } from '../../harness/stack.ts'
import { measurement } from '../../harness/measurement.ts'
import { migratedDatabase, type MigratedDatabase } from './helpers.ts'

/**
 * The least-privilege roles against the real servers: each role logs in with the stack's
 * generated password into a freshly migrated database (the migration run grants the rights),
 * does what its service does, and is refused everything else.
 */

const INSUFFICIENT_PRIVILEGE = '42501'
const open: postgres.Sql[] = []

function as (url: string): postgres.Sql {
  const sql = connect(url, { max: 1, connect_timeout: 5 })
  open.push(sql)
  return sql
}

async function sqlState (query: Promise<unknown>): Promise<string | undefined> {
  try {
    await query
    return undefined
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).message
  }
}

/** Login refused: the role does not exist on that server or the password is wrong (28P01), or the database is closed to it (42501). */
async function loginRefused (url: string): Promise<string | undefined> {
  const sql = as(url)
  return await sqlState(sql`SELECT 1`)
}

let registry: MigratedDatabase
let timeseries: MigratedDatabase

beforeAll(async () => {
  registry = await migratedDatabase('registry')
  timeseries = await migratedDatabase('timeseries')
}, 60_000)

afterAll(async () => {
  await Promise.all(open.map(async sql => await sql.end({ timeout: 1 })))
  await registry?.drop()
  await timeseries?.drop()
})

const dbName = (db: MigratedDatabase): string => new URL(db.url).pathname.slice(1)

describe('processor role (iot_processor)', () => {
  const sql = (): postgres.Sql => as(roleUrl('registry', 'processor', dbName(registry)))

  it('reads the registry and listens for its changes', async () => {
    const db = sql()
    const [row] = await db`SELECT count(*)::int AS n FROM "Device"`
    expect(row?.n).toBeGreaterThan(0)
    await db.unsafe('LISTEN registry_changed')
  })

  it('cannot write the registry, change its schema or create tables', async () => {
    const db = sql()
    expect(await sqlState(db`INSERT INTO "DeviceType" ("Name") VALUES ('x')`)).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db`UPDATE "Device" SET "DeviceName" = 'x'`)).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db`DELETE FROM "DataPoint"`)).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db.unsafe('TRUNCATE "Pin"'))).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db.unsafe('DROP TABLE "Pin"'))).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db.unsafe('CREATE TABLE public.f2_intruder (x int)'))).toBe(INSUFFICIENT_PRIVILEGE)
  })

  it('cannot log in to the time-series server', async () => {
    const url = roleUrl('registry', 'processor', dbName(timeseries))
    const ts = new URL(stackEnv().timeseriesUrl)
    const u = new URL(url)
    u.port = ts.port
    expect(await loginRefused(u.toString())).toBe('28P01')
  })
})

describe('sink role (ts_sink)', () => {
  const sql = (): postgres.Sql => as(roleUrl('timeseries', 'sink', dbName(timeseries)))

  it('writes batches through the writer (direct COPY, TEMP staging table, COPY and INSERT paths)', async () => {
    const db = sql()
    const copy = new TimeseriesWriter(db, { method: 'copy' })
    expect(await copy.writeBatch([measurement(1), measurement(2)])).toEqual({ inserted: 2, duplicates: 0, rejected: [], conflicts: [], path: 'copy' })
    expect(await copy.writeBatch([measurement(2), measurement(3)])).toEqual({ inserted: 1, duplicates: 1, rejected: [], conflicts: [], path: 'staging' })
    const insert = new TimeseriesWriter(db, { method: 'insert' })
    expect(await insert.writeBatch([measurement(3), measurement(4)])).toEqual({ inserted: 1, duplicates: 1, rejected: [], conflicts: [], path: 'staging' })
    const [row] = await timeseries.sql`SELECT count(*)::int AS n FROM iot_measurements`
    expect(row?.n).toBe(4)
  })

  it('reads back the stored value of a key it collided with: a conflicting duplicate is reported', async () => {
    const writer = new TimeseriesWriter(sql(), { method: 'copy' })
    await writer.writeBatch([measurement(50)])
    const outcome = await writer.writeBatch([measurement(50, { value: -1 })])
    expect(outcome.inserted).toBe(0)
    expect(outcome.conflicts).toHaveLength(1)
    expect(outcome.conflicts[0]?.stored.value).toBe(measurement(50).value)
  })

  it('cannot update, delete, truncate or drop measurements, read the aggregate, nor create tables', async () => {
    const db = sql()
    expect(await sqlState(db`SELECT * FROM iot_hourly_stats LIMIT 1`)).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db`UPDATE iot_measurements SET value = 0`)).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db`DELETE FROM iot_measurements`)).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db.unsafe('TRUNCATE iot_measurements'))).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db.unsafe('DROP TABLE iot_measurements'))).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db.unsafe('CREATE TABLE public.f2_intruder (x int)'))).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db`INSERT INTO iot_measurements ("timestamp", device_id) VALUES (now(), 'x') ON CONFLICT ("timestamp", device_id, connector, connector_mode, datapoint_label, pin_position) DO UPDATE SET value = 1`)).toBe(INSUFFICIENT_PRIVILEGE)
  })

  it('cannot log in to the registry server', async () => {
    const u = new URL(roleUrl('timeseries', 'sink', dbName(registry)))
    u.port = new URL(stackEnv().registryUrl).port
    expect(await loginRefused(u.toString())).toBe('28P01')
  })
})

describe('fleet role (ts_fleet)', () => {
  const sql = (): postgres.Sql => as(roleUrl('timeseries', 'fleet', dbName(timeseries)))
  const state = (online: boolean, at: string): DeviceStateRecord => ({
    device_id: 'f1aa00000001', mode: 'sensor-mode', online, last_seen: at, since: at, offline_reason: online ? null : 'silent',
    expected_interval_s: 60, last_values: [], rows_last_hour: 1, dead_letters_last_hour: 0, updated_at: at
  })
  const deadLetter: DeadLetterRow = {
    partition: 0, offset: '7', failed_at: '2026-01-01T00:00:00.000Z', reason: 'F2_PAYLOAD_INVALID', stage: 'processor',
    device_id: 'f1aa00000001', mqtt_topic: 'tele/f2-f1aa00000001/sensor-mode/J1/sensor-1', message: 'bad', message_key: 'k7',
    record: { reason: 'F2_PAYLOAD_INVALID' } as unknown as DeadLetterRow['record']
  }

  it('upserts device_state (twice: ON CONFLICT DO UPDATE), appends transitions and dead letters, reads its state back', async () => {
    const store = new FleetStore(sql())
    const event = { device_id: 'f1aa00000001', time: '2026-01-01T00:00:00.000Z', online: true, reason: 'message' as const }
    await store.write([JSON.stringify(state(true, '2026-01-01T00:00:00.000Z'))], [event], [deadLetter])
    await store.write([JSON.stringify(state(false, '2026-01-01T00:05:00.000Z'))], [event], [deadLetter])
    expect((await store.load()).map(r => [r.device_id, r.online, r.offline_reason])).toEqual([['f1aa00000001', false, 'silent']])
    const [counts] = await timeseries.sql`SELECT (SELECT count(*)::int FROM device_state_events) AS events, (SELECT count(*)::int FROM dead_letters) AS dead`
    expect(counts).toEqual({ events: 1, dead: 1 })
  })

  it('reads the registry\'s controllers as the registry reader', async () => {
    expect(await loadIntervals(as(roleUrl('registry', 'reader', dbName(registry))))).toBeInstanceOf(Map)
  })

  it('cannot touch measurements, delete its rows, rewrite history, or create tables', async () => {
    const db = sql()
    expect(await sqlState(db`SELECT * FROM iot_measurements LIMIT 1`)).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db`INSERT INTO iot_measurements ("timestamp", device_id) VALUES (now(), 'x')`)).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db`DELETE FROM device_state`)).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db`SELECT * FROM device_state_events`)).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db`UPDATE device_state_events SET reason = 'x'`)).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db`SELECT * FROM dead_letters`)).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db`DELETE FROM dead_letters`)).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db.unsafe('TRUNCATE device_state'))).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(db.unsafe('CREATE TABLE public.f2_intruder (x int)'))).toBe(INSUFFICIENT_PRIVILEGE)
  })

  it('the read API\'s reader reads the fleet state tables and cannot write them', async () => {
    const ts = as(roleUrl('timeseries', 'reader', dbName(timeseries)))
    expect((await ts`SELECT count(*)::int AS n FROM device_state`)[0]?.n).toBeGreaterThanOrEqual(0)
    expect(await ts`SELECT * FROM device_state_events LIMIT 1`).toBeDefined()
    expect(await ts`SELECT * FROM dead_letters LIMIT 1`).toBeDefined()
    expect(await sqlState(ts`DELETE FROM device_state`)).toBe(INSUFFICIENT_PRIVILEGE)
  })
})

describe('read-only roles (iot_reader, ts_reader)', () => {
  it('read both databases', async () => {
    const reg = as(roleUrl('registry', 'reader', dbName(registry)))
    expect((await reg`SELECT count(*)::int AS n FROM "DataPoint"`)[0]?.n).toBeGreaterThan(0)
    const ts = as(roleUrl('timeseries', 'reader', dbName(timeseries)))
    expect(await ts`SELECT count(*)::int AS n FROM iot_measurements`).toHaveLength(1)
    expect(await ts`SELECT * FROM iot_hourly_stats LIMIT 1`).toBeDefined()
  })

  it('cannot write either', async () => {
    const reg = as(roleUrl('registry', 'reader', dbName(registry)))
    expect(await sqlState(reg`DELETE FROM "Device"`)).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(reg.unsafe('CREATE TABLE public.f2_intruder (x int)'))).toBe(INSUFFICIENT_PRIVILEGE)
    const ts = as(roleUrl('timeseries', 'reader', dbName(timeseries)))
    expect(await sqlState(ts`INSERT INTO iot_measurements ("timestamp", device_id) VALUES (now(), 'x')`)).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(ts`DELETE FROM iot_measurements`)).toBe(INSUFFICIENT_PRIVILEGE)
    expect(await sqlState(ts.unsafe('TRUNCATE iot_measurements'))).toBe(INSUFFICIENT_PRIVILEGE)
  })

  it('a table a later migration adds is readable at once (default privileges), and still not writable', async () => {
    await timeseries.sql.unsafe('CREATE TABLE f2_later (x int)')
    await timeseries.sql.unsafe('INSERT INTO f2_later VALUES (1)')
    const ts = as(roleUrl('timeseries', 'reader', dbName(timeseries)))
    expect(await ts`SELECT x FROM f2_later`).toEqual([{ x: 1 }])
    expect(await sqlState(ts`INSERT INTO f2_later VALUES (2)`)).toBe(INSUFFICIENT_PRIVILEGE)
    const sink = as(roleUrl('timeseries', 'sink', dbName(timeseries)))
    expect(await sqlState(sink`INSERT INTO f2_later VALUES (2)`)).toBe(INSUFFICIENT_PRIVILEGE)
  })
})

describe('the stack\'s own databases', () => {
  it('refuse the fixed passwords of earlier versions', async () => {
    for (const [base, user, password] of [[stackEnv().registryUrl, 'iot_user', 'iot_password'], [stackEnv().timeseriesUrl, 'ts_user', 'ts_password']] as const) {
      const u = new URL(base)
      u.username = user
      u.password = password
      expect(await loginRefused(u.toString()), user).toBe('28P01')
    }
  })

  it('are closed to roles without a grant (PUBLIC has no CONNECT)', async () => {
    // The registry's processor exists on the registry server only; the time-series roles
    // exist on theirs: ask the registry server for the time-series database's sibling.
    const ownerUrl = new URL(stackEnv().registryUrl)
    const other = as(ownerUrl.toString())
    const [row] = await other`SELECT has_database_privilege('public', current_database(), 'CONNECT') AS public_connect,
      has_database_privilege('iot_processor', current_database(), 'CONNECT') AS processor_connect,
      has_database_privilege('iot_processor', current_database(), 'TEMPORARY') AS processor_temp`
    expect(row).toEqual({ public_connect: false, processor_connect: true, processor_temp: false })
  })

  it('let the services\' roles in with their generated passwords', async () => {
    expect(await (as(roleUrl('registry', 'processor')))`SELECT current_user AS u`).toEqual([{ u: 'iot_processor' }])
    expect(await (as(roleUrl('timeseries', 'sink')))`SELECT current_user AS u`).toEqual([{ u: 'ts_sink' }])
    expect(await (as(roleUrl('timeseries', 'fleet')))`SELECT current_user AS u`).toEqual([{ u: 'ts_fleet' }])
  })
})
