import { appendFileSync, cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { isF2Error } from '../../src/core/errors.ts'
import { connect } from '../../src/storage/connection.ts'
import { loadMigrations, migrate, migrateAll } from '../../src/storage/migrate.ts'
import { RegistryStore } from '../../src/registry/store.ts'
import { TimeseriesWriter } from '../../src/storage/timeseries-writer.ts'
import { createTempDatabase, type TempDatabase } from '../../harness/stack.ts'
import { measurement } from '../../harness/measurement.ts'

const SQL_DIR = fileURLToPath(new URL('../../sql/', import.meta.url))
/** The registry's migration versions, from the files (a new migration needs no edit here). */
const REGISTRY_VERSIONS = readdirSync(join(SQL_DIR, 'registry')).map(f => /^(\d+)_.*\.sql$/.exec(f)?.[1]).filter(v => v !== undefined).map(Number).sort((a, b) => a - b)
const cleanup: Array<() => Promise<void> | void> = []
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn()
})

async function tempDb (kind: 'registry' | 'timeseries'): Promise<TempDatabase> {
  const db = await createTempDatabase(kind)
  cleanup.push(async () => await db.drop())
  return db
}

async function codeOf (p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'ok'
  } catch (err) {
    return isF2Error(err) ? err.code : String(err)
  }
}

describe('migrations on plain PostgreSQL', () => {
  it('migrateAll applies both sets once; running again is a no-op', async () => {
    const reg = await tempDb('registry')
    const ts = await tempDb('timeseries')
    const first = await migrateAll({ registry: reg.url, timeseries: ts.url })
    expect(REGISTRY_VERSIONS).toEqual(Array.from({ length: REGISTRY_VERSIONS.length }, (_, i) => i + 1))
    expect(REGISTRY_VERSIONS.length).toBeGreaterThanOrEqual(9)
    expect(first.registry.applied.map(m => m.version)).toEqual(REGISTRY_VERSIONS)
    expect(first.timeseries).toMatchObject({ variant: 'plain', alreadyApplied: 0 })
    expect(first.timeseries.applied.map(m => m.name)).toEqual(['measurements', 'hypertable', 'hourly_stats', 'policies', 'fleet_state', 'dead_letter_key', 'device_state_fillfactor'])
    const second = await migrateAll({ registry: reg.url, timeseries: ts.url })
    expect(second.registry).toMatchObject({ applied: [], alreadyApplied: REGISTRY_VERSIONS.length })
    expect(second.timeseries).toMatchObject({ applied: [], alreadyApplied: 7, variant: 'plain' })

    const sql = connect(ts.url, { max: 1 })
    try {
      const rows = await sql<Array<{ version: number, name: string, variant: string | null }>>`
        SELECT version, name, variant FROM schema_migrations WHERE target = 'timeseries' ORDER BY version`
      expect(rows.map(r => [r.version, r.variant])).toEqual([[1, null], [2, 'plain'], [3, 'plain'], [4, 'plain'], [5, null], [6, null], [7, null]])
      const key = await sql<{ col: string }[]>`
        SELECT a.attname AS col FROM pg_constraint c JOIN unnest(c.conkey) WITH ORDINALITY k (attnum, n) ON true
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
        WHERE c.conrelid = 'iot_measurements'::regclass AND c.contype = 'p' ORDER BY k.n`
      expect(key.map(k => k.col)).toEqual(['timestamp', 'device_id', 'connector', 'connector_mode', 'datapoint_label', 'pin_position'])
      const indexes = await sql<{ indexdef: string }[]>`SELECT indexdef FROM pg_indexes WHERE tablename = 'iot_measurements' ORDER BY indexname`
      expect(indexes.map(i => i.indexdef.replace(/^.* USING btree /, ''))).toEqual([
        '(connector_mode, "timestamp" DESC)', '(datapoint_label, "timestamp" DESC)', '(device_id, "timestamp" DESC)',
        '("timestamp", device_id, connector, connector_mode, datapoint_label, pin_position)'
      ])
      const [view] = await sql<{ kind: string }[]>`SELECT relkind AS kind FROM pg_class WHERE relname = 'iot_hourly_stats'`
      expect(view?.kind).toBe('v')
      const [state] = await sql<{ options: string[] | null }[]>`SELECT reloptions AS options FROM pg_class WHERE relname = 'device_state'`
      expect(state?.options).toEqual(['fillfactor=50'])
    } finally {
      await sql.end()
    }
  })

  it('refuses an applied migration whose file changed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'f2-sql-'))
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
    cpSync(SQL_DIR, dir, { recursive: true })
    const ts = await tempDb('timeseries')
    const sql = connect(ts.url, { max: 1 })
    try {
      await migrate(sql, 'timeseries', { sqlDir: dir })
      appendFileSync(join(dir, 'timeseries', '001_measurements.sql'), '\n-- edited\n')
      expect(await codeOf(migrate(sql, 'timeseries', { sqlDir: dir }))).toBe('F2_MIGRATION_CHECKSUM_MISMATCH')
      // a new, broken migration fails alone and leaves no trace
      cpSync(SQL_DIR, dir, { recursive: true })
      const last = loadMigrations('timeseries').length
      writeFileSync(join(dir, 'timeseries', `${String(last + 1).padStart(3, '0')}_broken.sql`), 'CREATE TABLE broken_one (id int);\nSELECT no_such_function();\n')
      expect(await codeOf(migrate(sql, 'timeseries', { sqlDir: dir }))).toBe('F2_MIGRATION_FAILED')
      const [t] = await sql<{ t: string | null }[]>`SELECT to_regclass('broken_one')::text AS t`
      expect(t?.t).toBeNull()
      const [n] = await sql<{ n: number }[]>`SELECT max(version)::int AS n FROM schema_migrations WHERE target = 'timeseries'`
      expect(n?.n).toBe(last)
    } finally {
      await sql.end()
    }
  })

  it('a database migrated before a migration\'s text moved into an include starts with the include; an edited include is refused', async () => {
    // The time-series migrations as they were written out whole, before 003's variants shared their columns.
    const whole = mkdtempSync(join(tmpdir(), 'f2-sql-'))
    cleanup.push(() => rmSync(whole, { recursive: true, force: true }))
    cpSync(SQL_DIR, whole, { recursive: true })
    rmSync(join(whole, 'timeseries', 'include'), { recursive: true })
    for (const file of loadMigrations('timeseries').flatMap(m => m.files)) writeFileSync(join(whole, 'timeseries', basename(file.path)), file.sql)
    expect(loadMigrations('timeseries', whole).flatMap(m => m.files).filter(f => f.sql.includes('migrate:include'))).toEqual([])

    const ts = await tempDb('timeseries')
    const sql = connect(ts.url, { max: 1 })
    try {
      const all = loadMigrations('timeseries').length
      expect((await migrate(sql, 'timeseries', { sqlDir: whole })).applied).toHaveLength(all)
      expect(await migrate(sql, 'timeseries')).toMatchObject({ applied: [], alreadyApplied: all })

      const edited = mkdtempSync(join(tmpdir(), 'f2-sql-'))
      cleanup.push(() => rmSync(edited, { recursive: true, force: true }))
      cpSync(SQL_DIR, edited, { recursive: true })
      appendFileSync(join(edited, 'timeseries', 'include', 'hourly_stats_columns.sql'), '  AND value > 0\n')
      expect(await codeOf(migrate(sql, 'timeseries', { sqlDir: edited }))).toBe('F2_MIGRATION_CHECKSUM_MISMATCH')
    } finally {
      await sql.end()
    }
  })

  it('serialises concurrent runners', async () => {
    const reg = await tempDb('registry')
    const pools = Array.from({ length: 3 }, () => connect(reg.url, { max: 1 }))
    try {
      const reports = await Promise.all(pools.map(async p => await migrate(p, 'registry')))
      expect(reports.map(r => r.applied.length).sort()).toEqual([0, 0, REGISTRY_VERSIONS.length])
      const [row] = await (pools[0] as ReturnType<typeof connect>)<{ n: number }[]>`SELECT count(*)::int AS n FROM "Device"`
      expect(row?.n).toBe(7)
    } finally {
      await Promise.all(pools.map(async p => await p.end()))
    }
  })

  it('adopts a registry and a time-series table created by the seed', async () => {
    const reg = await tempDb('registry')
    const ts = await tempDb('timeseries')
    const r = connect(reg.url, { max: 1 })
    const t = connect(ts.url, { max: 1 })
    try {
      // the seed's shapes: serial ids, no notification triggers; its own sample rows
      await r.unsafe(`
        CREATE TABLE "DeviceType" ("DeviceTypeId" serial PRIMARY KEY, "Name" varchar(100));
        CREATE TABLE "DeviceTemplate" ("DeviceTemplateId" serial PRIMARY KEY, "Name" varchar(100), "Model" varchar(100), "Description" text, "Image" bytea, "DeviceTypeId" int REFERENCES "DeviceType");
        CREATE TABLE "Device" ("DeviceId" serial PRIMARY KEY, "DeviceName" varchar(100), "DeviceTemplateId" int REFERENCES "DeviceTemplate", "ClaimingCode" varchar(50), "SerialNumber" varchar(50), "Uuid" uuid, "MacAddress" varchar(17), "IpAddress" varchar(45), "PcbVersion" varchar(20));
        CREATE TABLE "Connector" ("ConnectorId" serial PRIMARY KEY, "ControllerId" int REFERENCES "Device", "ConnectorNumber" int, "ConnectorTypeId" int);
        CREATE TABLE "Pin" ("PinId" serial PRIMARY KEY, "ConnectorId" int REFERENCES "Connector", "Position" int, "DeviceId" int REFERENCES "Device");
        CREATE TABLE "DataPointIcon" ("DataPointIconId" serial PRIMARY KEY, "IconName" varchar(100));
        CREATE TABLE "DataPoint" ("DataPointId" serial PRIMARY KEY, "DeviceTemplateId" int REFERENCES "DeviceTemplate", "Label" varchar(100), "DataPointIconId" int, "DataFormat" varchar(20), "DataEncoding" varchar(20), "Offset" int, "Length" int, "Prepend" varchar(20), "Append" varchar(20), "WholeNumber" boolean, "Decimals" int, "RealTimeChart" boolean, "HistoricalChart" boolean);
        INSERT INTO "DeviceType" ("Name") VALUES ('Controller'), ('Sensor');
        INSERT INTO "DeviceTemplate" ("Name", "DeviceTypeId") VALUES ('F2 Controller', 1), ('Environmental Sensor', 2);
        INSERT INTO "DataPoint" ("DeviceTemplateId", "Label", "DataFormat", "Offset", "Length", "Append", "Decimals") VALUES (2, 'Temperature', 'Int16', 0, 2, ' °C', 2);
        INSERT INTO "Device" ("DeviceName", "DeviceTemplateId", "MacAddress") VALUES ('Controller One', 1, 'E4:FD:45:F6:54:BE'), ('Living Room Env Sensor', 2, NULL);
        INSERT INTO "Connector" ("ControllerId", "ConnectorNumber") VALUES (1, 1);
        INSERT INTO "Pin" ("ConnectorId", "Position", "DeviceId") VALUES (1, 1, 2);
      `).simple()
      await t.unsafe(`
        CREATE TABLE iot_measurements ("timestamp" timestamptz NOT NULL, device_id text NOT NULL, connector_mode text NOT NULL,
          datapoint_label text NOT NULL, pin_position text NOT NULL, value double precision, unit text, topic text,
          PRIMARY KEY ("timestamp", device_id, connector_mode, datapoint_label, pin_position));
        INSERT INTO iot_measurements VALUES ('2023-05-26T18:34:04.928538Z', 'e4fd45f654be', 'sensor-mode', 'Temperature', '1', 27.93, '°C', 'cmnd/f2-e4fd45f654be/sensor-mode/1/sensor-1');
      `).simple()
      const report = await migrateAll({ registry: reg.url, timeseries: ts.url })
      expect(report.registry.applied.length).toBe(REGISTRY_VERSIONS.length)

      // the seed's rows are kept and not duplicated; the missing sample rows are added
      // (a sample template of the same name is completed with the sample labels it lacks)
      const store = new RegistryStore(r)
      const living = await store.resolveSensor('e4fd45f654be', 1, 1)
      expect(living.ok && [living.value.sensorName, living.value.dataPoints.map(d => d.label)]).toEqual(['Living Room Env Sensor', ['Temperature', 'Humidity', 'CO2']])
      const [temps] = await r<Array<{ n: number }>>`SELECT count(*)::int AS n FROM "DataPoint" WHERE "Label" = 'Temperature'`
      expect(temps?.n).toBe(1)
      const [counts] = await r<Array<{ controllers: number, env: number }>>`
        SELECT (SELECT count(*)::int FROM "Device" WHERE "MacAddress" IS NOT NULL) AS controllers,
               (SELECT count(*)::int FROM "DeviceTemplate" WHERE "Name" = 'Environmental Sensor') AS env`
      expect(counts).toEqual({ controllers: 3, env: 1 })
      const kitchen = await store.resolveSensor('abc123def456', 2, 2)
      expect(kitchen.ok && kitchen.value.sensorName).toBe('Kitchen Power Monitor')
      // and changes to it are now announced
      await store.start()
      expect(store.listening).toBe(true)
      await store.close()

      const rows = await t<Array<{ connector: number, value: number }>>`SELECT connector, value FROM iot_measurements`
      expect(rows).toEqual([{ connector: 0, value: 27.93 }])
      const writer = new TimeseriesWriter(t)
      const same = { timestamp: '2023-05-26T18:34:04.928538Z', device_id: 'e4fd45f654be', connector_mode: 'sensor-mode', datapoint_label: 'Temperature', pin_position: '1' }
      const w = await writer.writeBatch([measurement(0, { ...same, connector: 1 }), measurement(0, { ...same, connector: 2 })])
      expect(w.inserted).toBe(2)
    } finally {
      await r.end()
      await t.end()
    }
  })
})

describe('loadMigrations', () => {
  it('expands includes before the checksum: 003 keeps the checksums databases recorded when its variants were written out whole', () => {
    const hourly = loadMigrations('timeseries').find(m => m.version === 3)
    expect(hourly?.files.map(f => [f.variant, f.checksum]).sort()).toEqual([
      ['plain', '3f09e36e9be34ef07c9520dcb0bf724a581233df9ca8979cbcb9863069dcef50'],
      ['timescale', '79f7948ac9917a44840cb04829900a827160dc951b9b210045a64b05321e5000']
    ])
    for (const file of hourly?.files ?? []) {
      expect(file.sql).not.toMatch(/migrate:include/)
      expect(file.sql).toMatch(/\n {7}device_id,\n[^]*\nWHERE value IS NOT NULL\nGROUP BY /)
    }
  })

  it('refuses an include that is missing, badly named or includes again', () => {
    const dir = mkdtempSync(join(tmpdir(), 'f2-sql-'))
    try {
      cpSync(SQL_DIR, dir, { recursive: true })
      const migration = join(dir, 'timeseries', '009_fragmented.sql')
      writeFileSync(migration, 'SELECT 1;\n-- migrate:include no_such.sql\n')
      expect(() => loadMigrations('timeseries', dir)).toThrow(/cannot read include\/no_such.sql/)
      writeFileSync(migration, 'SELECT 1;\n-- migrate:include ../../registry/001_schema.sql\n')
      expect(() => loadMigrations('timeseries', dir)).toThrow(/include name not name.sql/)
      writeFileSync(join(dir, 'timeseries', 'include', 'again.sql'), '-- migrate:include hourly_stats_columns.sql\n')
      writeFileSync(migration, 'SELECT 1;\n-- migrate:include again.sql\n')
      expect(() => loadMigrations('timeseries', dir)).toThrow(/one level only/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('pairs variant files and refuses malformed sets', () => {
    const ts = loadMigrations('timeseries')
    expect(ts.map(m => [m.version, m.files.map(f => f.variant).sort()])).toEqual([
      [1, [null]], [2, ['plain', 'timescale']], [3, ['plain', 'timescale']], [4, ['plain', 'timescale']], [5, [null]], [6, [null]], [7, [null]]
    ])
    const dir = mkdtempSync(join(tmpdir(), 'f2-sql-'))
    try {
      cpSync(SQL_DIR, dir, { recursive: true })
      writeFileSync(join(dir, 'timeseries', '009_only_one.timescale.sql'), 'SELECT 1;')
      expect(() => loadMigrations('timeseries', dir)).toThrow(/needs one common file or both/)
      writeFileSync(join(dir, 'registry', 'bad name.sql'), 'SELECT 1;')
      expect(() => loadMigrations('registry', dir)).toThrow(/file name/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
