import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { isF2Error } from '../../src/core/errors.ts'
import { connect } from '../../src/storage/connection.ts'
import { TimeseriesWriter } from '../../src/storage/timeseries-writer.ts'
import { measurement } from '../../harness/measurement.ts'
import { migratedDatabase, TcpProxy, type MigratedDatabase } from './helpers.ts'

let db: MigratedDatabase

beforeAll(async () => {
  db = await migratedDatabase('timeseries', { max: 8 })
})

afterAll(async () => {
  await db?.drop()
})

beforeEach(async () => {
  await db.sql`TRUNCATE iot_measurements`
})

async function count (): Promise<number> {
  const [row] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM iot_measurements`
  return row?.n ?? -1
}

describe.each(['copy', 'insert'] as const)('TimeseriesWriter (%s)', method => {
  // The first batch of a fresh COPY writer goes straight into the table; INSERT always stages.
  const first = method === 'copy' ? 'copy' : 'staging'

  it('stores a batch delivered twice once', async () => {
    const writer = new TimeseriesWriter(db.sql, { method })
    const batch = Array.from({ length: 500 }, (_, i) => measurement(i))
    expect(await writer.writeBatch(batch)).toEqual({ inserted: 500, duplicates: 0, rejected: [], conflicts: [], path: first })
    expect(await writer.writeBatch(batch)).toEqual({ inserted: 0, duplicates: 500, rejected: [], conflicts: [], path: 'staging' })
    // duplicates inside one batch, and a batch overlapping the first one
    const overlap = [...batch.slice(490), measurement(1000), measurement(1000)]
    expect(await writer.writeBatch(overlap)).toEqual({ inserted: 1, duplicates: 11, rejected: [], conflicts: [], path: 'staging' })
    expect(await count()).toBe(501)
    expect(await writer.writeBatch([])).toMatchObject({ inserted: 0, duplicates: 0, rejected: [], conflicts: [] })
  })

  it('keeps readings that differ only by connector apart (the seed key collided)', async () => {
    const writer = new TimeseriesWriter(db.sql, { method })
    const r = await writer.writeBatch([measurement(1, { connector: 1 }), measurement(1, { connector: 2 }), measurement(1, { connector: null })])
    expect(r).toEqual({ inserted: 3, duplicates: 0, rejected: [], conflicts: [], path: first })
    const rows = await db.sql<{ connector: number }[]>`SELECT connector FROM iot_measurements ORDER BY connector`
    expect(rows.map(r => r.connector)).toEqual([0, 1, 2])
  })

  it('round-trips text with tabs, newlines, backslashes, quotes and non-ASCII', async () => {
    const writer = new TimeseriesWriter(db.sql, { method })
    const nasty = 'a\tb\nc\r\\N \\\\ "q" \'s\' ,; \u00e9\u4e2d\ud83d\ude00 \\.'
    const m = measurement(7, { value: null, value_text: nasty, unit: '', topic: 'x\ty', datapoint_label: 'reader-1', pin_position: '-1', received_at: null, sensor_device_id: null, datapoint_id: null })
    expect((await writer.writeBatch([m])).inserted).toBe(1)
    const [row] = await db.sql<Array<Record<string, unknown>>>`
      SELECT to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts, value, value_text, unit, topic,
             received_at, sensor_device_id, datapoint_id, ingested_at IS NOT NULL AS ingested
      FROM iot_measurements`
    expect(row).toEqual({ ts: m.timestamp, value: null, value_text: nasty, unit: '', topic: 'x\ty', received_at: null, sensor_device_id: null, datapoint_id: null, ingested: true })
  })

  it('keeps microseconds and full double precision', async () => {
    const writer = new TimeseriesWriter(db.sql, { method })
    const values = [Math.PI, -0.1, 1e-300, 1.7976931348623157e308, 123456789.12345679]
    const batch = values.map((value, i) => measurement(0, { timestamp: `2024-05-01T00:00:00.00000${i}Z`, value }))
    expect((await writer.writeBatch(batch)).inserted).toBe(values.length)
    const rows = await db.sql<Array<{ value: number, us: string }>>`
      SELECT value, to_char("timestamp", 'US') AS us FROM iot_measurements ORDER BY "timestamp"`
    expect(rows.map(r => r.value)).toEqual(values)
    expect(rows.map(r => r.us)).toEqual(['000000', '000001', '000002', '000003', '000004'])
  })

  it('isolates rows the database refuses and writes the rest', async () => {
    const writer = new TimeseriesWriter(db.sql, { method })
    const batch = Array.from({ length: 300 }, (_, i) => measurement(i))
    // refused by pre-validation
    batch[3] = measurement(3, { value_text: 'nul\u0000byte' })
    batch[4] = measurement(4, { value: Number.NaN })
    batch[5] = measurement(5, { timestamp: 'yesterday-ish' })
    batch[6] = measurement(6, { connector: 70000 })
    // refused by the database itself: a key too large for the primary key's index
    batch[100] = measurement(100, { datapoint_label: randomBytes(6000).toString('base64') })
    batch[299] = measurement(299, { pin_position: randomBytes(6000).toString('base64') })
    const r = await writer.writeBatch(batch)
    expect(r.rejected.map(x => [x.index, x.code])).toEqual([
      [3, 'F2_MEASUREMENT_INVALID'], [4, 'F2_MEASUREMENT_INVALID'], [5, 'F2_MEASUREMENT_INVALID'], [6, 'F2_MEASUREMENT_INVALID'],
      [100, 'F2_DB_ROW_REJECTED'], [299, 'F2_DB_ROW_REJECTED']
    ])
    expect(r.rejected[4]?.message).toMatch(/^54000: index row size/)
    expect(r).toMatchObject({ inserted: 294, duplicates: 0 })
    expect(await count()).toBe(294)
    // the same batch again: the good rows are duplicates, the bad ones rejected again
    const again = await writer.writeBatch(batch)
    expect(again).toMatchObject({ inserted: 0, duplicates: 294 })
    expect(again.rejected.length).toBe(6)
  })

  it('reports a row whose key is stored with another value as a conflict, with what is stored; an identical one stays a duplicate', async () => {
    const writer = new TimeseriesWriter(db.sql, { method })
    const first = Array.from({ length: 50 }, (_, i) => measurement(i))
    expect((await writer.writeBatch(first)).inserted).toBe(50)
    const second = [
      measurement(0), // identical redelivery
      measurement(1, { value: 99.5 }), // same key, another value
      measurement(2, { value: null, value_text: 'text now' }), // same key, text instead of a number
      measurement(3, { unit: 'K' }), // same key, another unit
      measurement(4, { received_at: '2030-01-01T00:00:00.000000Z' }), // a later receipt of the same reading: a duplicate
      measurement(60), // new
      measurement(61), measurement(61, { value: -1 }) // one key twice in one batch, two values: the second loses
    ]
    const r = await writer.writeBatch(second)
    expect(r.conflicts.map(c => c.index)).toEqual([1, 2, 3, 7])
    expect(r.conflicts[0]?.stored).toMatchObject({ value: first[1]?.value, value_text: null, unit: '°C' })
    expect(r.conflicts[3]?.stored).toMatchObject({ value: measurement(61).value })
    expect(r).toMatchObject({ inserted: 2, duplicates: 2, rejected: [] })
    const [row] = await db.sql<Array<{ value: number }>>`SELECT value FROM iot_measurements WHERE "timestamp" = ${first[1]?.timestamp as string}`
    expect(row?.value).toBe(first[1]?.value) // the stored row is kept
  })
})

describe('TimeseriesWriter direct COPY path', () => {
  it('takes the direct COPY for a clean batch; a batch meeting a stored row falls back to staging and lands exactly once', async () => {
    // One connection: a refused direct COPY must leave it usable (rolled back, not stuck in an aborted transaction).
    const sql = connect(db.url, { max: 1 })
    try {
      const writer = new TimeseriesWriter(sql)
      const clean = Array.from({ length: 3000 }, (_, i) => measurement(i))
      expect(await writer.writeBatch(clean)).toEqual({ inserted: 3000, duplicates: 0, rejected: [], conflicts: [], path: 'copy' })
      // The stored row is the last one: the server refuses the COPY after all data was sent,
      // which postgres.js alone would never settle (the 60 s deadline is not what ends it).
      const redelivered = [...Array.from({ length: 3000 }, (_, i) => measurement(5000 + i)), measurement(2999)]
      const t0 = Date.now()
      expect(await writer.writeBatch(redelivered)).toEqual({ inserted: 3000, duplicates: 1, rejected: [], conflicts: [], path: 'staging' })
      expect(Date.now() - t0).toBeLessThan(20_000)
      expect(await count()).toBe(6000)
      const [dupes] = await db.sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM (SELECT 1 FROM iot_measurements GROUP BY "timestamp", device_id, connector, connector_mode, datapoint_label, pin_position HAVING count(*) > 1) d`
      expect(dupes?.n).toBe(0)
      // After a batch that met stored rows, the next one stages; once one meets none, the direct path is back.
      expect((await writer.writeBatch([measurement(9000)])).path).toBe('staging')
      expect(await writer.writeBatch([measurement(9001)])).toEqual({ inserted: 1, duplicates: 0, rejected: [], conflicts: [], path: 'copy' })
      expect(await count()).toBe(6002)
    } finally {
      await sql.end({ timeout: 5 })
    }
  })

  it('falls back when one key comes twice in the batch itself', async () => {
    const writer = new TimeseriesWriter(db.sql)
    expect(await writer.writeBatch([measurement(1), measurement(2), measurement(1)])).toEqual({ inserted: 2, duplicates: 1, rejected: [], conflicts: [], path: 'staging' })
    expect(await count()).toBe(2)
  })

  it('still detects a conflicting duplicate: the batch falls back, the stored row stays, the other rows land', async () => {
    const writer = new TimeseriesWriter(db.sql)
    expect((await writer.writeBatch([measurement(1), measurement(2)])).path).toBe('copy')
    const r = await writer.writeBatch([measurement(3), measurement(2, { value: 99.5 }), measurement(4)])
    expect(r).toMatchObject({ inserted: 2, duplicates: 0, rejected: [], path: 'staging' })
    expect(r.conflicts).toEqual([{ index: 1, stored: { value: measurement(2).value, unit: '°C', value_text: null, received_at: measurement(2).received_at } }])
    const [row] = await db.sql<Array<{ value: number }>>`SELECT value FROM iot_measurements WHERE "timestamp" = ${measurement(2).timestamp}`
    expect(row?.value).toBe(measurement(2).value)
    expect(await count()).toBe(4)
  })

  it('leaves a row the table refuses (not a stored key) to the staging path, which isolates it', async () => {
    await db.sql`ALTER TABLE iot_measurements ADD CONSTRAINT f2_test_small CHECK (value IS NULL OR value < 1000000)`
    try {
      const writer = new TimeseriesWriter(db.sql)
      const r = await writer.writeBatch([measurement(1), measurement(2, { value: 5e6 }), measurement(3)])
      expect(r).toMatchObject({ inserted: 2, duplicates: 0, conflicts: [], path: 'staging' })
      expect(r.rejected.map(x => [x.index, x.code])).toEqual([[1, 'F2_DB_ROW_REJECTED']])
      // No stored row was met: the next batch goes straight in again.
      expect((await writer.writeBatch([measurement(4)])).path).toBe('copy')
    } finally {
      await db.sql`ALTER TABLE iot_measurements DROP CONSTRAINT f2_test_small`
    }
  })
})

describe('TimeseriesWriter under concurrency and failure', () => {
  it('writes a batch whose staging COPY the server refuses through INSERT, refused row apart, connection still usable', async () => {
    // One connection whose staging table refuses large values, which no real staging table
    // does: the COPY is refused after all data was sent, and postgres.js never settles it.
    const sql = connect(db.url, { max: 1 })
    try {
      await sql.unsafe(`CREATE TEMP TABLE f2_measurements_staging (
        "timestamp" timestamptz, device_id text, connector_mode text, datapoint_label text, pin_position text,
        value double precision CHECK (value IS NULL OR value < 1000000), unit text, topic text, connector smallint,
        value_text text, sensor_device_id integer, datapoint_id integer, received_at timestamptz, f2_index integer
      ) ON COMMIT DELETE ROWS`)
      // The staging path only: the table itself takes these rows.
      const writer = new TimeseriesWriter(sql, { method: 'copy', copyTimeoutMs: 1500, direct: false })
      const batch = Array.from({ length: 20 }, (_, i) => measurement(i, i === 7 ? { value: 5e6 } : {}))
      batch[3] = measurement(3, { value_text: 'nul\u0000byte' })
      const t0 = Date.now()
      const r = await writer.writeBatch(batch)
      expect(r.inserted).toBe(18)
      expect(r.rejected.map(x => [x.index, x.code])).toEqual([[3, 'F2_MEASUREMENT_INVALID'], [7, 'F2_DB_ROW_REJECTED']])
      expect(r.rejected[1]?.message).toMatch(/check constraint/i)
      expect(Date.now() - t0).toBeLessThan(15_000)
      expect(await count()).toBe(18)
      // The same connection writes the next batch.
      expect(await writer.writeBatch([measurement(100), measurement(101)])).toEqual({ inserted: 2, duplicates: 0, rejected: [], conflicts: [], path: 'staging' })
    } finally {
      await sql.end({ timeout: 5 })
    }
  })

  it('writes overlapping batches concurrently, each row once', async () => {
    const writer = new TimeseriesWriter(db.sql)
    // 8 batches of 2000 rows; batch k covers rows 1000k .. 1000k+1999, so neighbours overlap by half
    const batches = Array.from({ length: 8 }, (_, k) => Array.from({ length: 2000 }, (_, i) => measurement(1000 * k + i)))
    const results = await Promise.all(batches.map(async b => await writer.writeBatch(b)))
    const inserted = results.reduce((a, r) => a + r.inserted, 0)
    const duplicates = results.reduce((a, r) => a + r.duplicates, 0)
    expect(results.every(r => r.rejected.length === 0)).toBe(true)
    expect(inserted).toBe(9000)
    expect(duplicates).toBe(16000 - 9000)
    expect(await count()).toBe(9000)
  })

  it('throws F2_DB_UNAVAILABLE (retryable) when the database cannot be reached, and writes nothing', async () => {
    const proxy = new TcpProxy(db.url)
    await proxy.up()
    const sql = connect(proxy.rewrite(db.url), { max: 1, connect_timeout: 2 })
    try {
      const writer = new TimeseriesWriter(sql)
      expect((await writer.writeBatch([measurement(1)])).inserted).toBe(1)
      await proxy.down()
      let error: unknown
      try {
        await writer.writeBatch([measurement(2), measurement(3)])
      } catch (err) {
        error = err
      }
      expect(isF2Error(error) && [error.code, error.retryable]).toEqual(['F2_DB_UNAVAILABLE', true])
      await proxy.up()
      expect(await writer.writeBatch([measurement(2), measurement(3)])).toEqual({ inserted: 2, duplicates: 0, rejected: [], conflicts: [], path: 'copy' })
      expect(await count()).toBe(3)
    } finally {
      await sql.end({ timeout: 2 })
      await proxy.down()
    }
  })

  it('reports a missing table as unavailability, not as rejected rows', async () => {
    await db.sql`ALTER TABLE iot_measurements RENAME TO iot_measurements_away`
    try {
      const writer = new TimeseriesWriter(db.sql)
      let error: unknown
      try {
        await writer.writeBatch([measurement(1)])
      } catch (err) {
        error = err
      }
      expect(isF2Error(error) && [error.code, error.retryable]).toEqual(['F2_DB_UNAVAILABLE', true])
    } finally {
      await db.sql`ALTER TABLE iot_measurements_away RENAME TO iot_measurements`
    }
  })
})
