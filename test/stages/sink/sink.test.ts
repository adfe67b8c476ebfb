import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildRecord, KAFKA_MESSAGE_MAX_BYTES, type KafkaRecord } from '../../../src/adapters/kafka.ts'
import { createLogger } from '../../../src/adapters/logger.ts'
import { createRegistry } from '../../../src/adapters/metrics.ts'
import { decodeDeadLetter } from '../../../src/core/dead-letter.ts'
import { ErrorCodes } from '../../../src/core/errors.ts'
import type { Measurement } from '../../../src/core/measurement.ts'
import { migrate } from '../../../src/storage/migrate.ts'
import { TimeseriesWriter } from '../../../src/storage/timeseries-writer.ts'
import { loadSinkConfig } from '../../../src/stages/sink/config.ts'
import { createSinkMetrics, type SinkMetrics } from '../../../src/stages/sink/metrics.ts'
import { SinkStage } from '../../../src/stages/sink/stage.ts'
import { createTempTopics, stackEnv, uniqueName, type TempTopics } from '../../../harness/stack.ts'
import { startPrivatePostgres, type PrivatePostgres } from '../../../harness/private-postgres.ts'
import { collect, groupLag, produceAll } from '../../../harness/e2e-support.ts'
import { pollUntil } from '../../../harness/wait.ts'
import { measurement as fixture, measurementInstant } from '../../../harness/measurement.ts'

/**
 * The sink between the real Kafka and a real PostgreSQL of its own (so the database can be
 * stopped under it): bad records are dead-lettered without failing their batch, a record
 * delivered twice is stored once, and a database outage holds the input instead of losing it.
 */
const logger = createLogger('sink-test', 'warn')
const T0 = Date.UTC(2024, 6, 1, 0, 0, 0)

function measurement (device: string, i: number, extra: Partial<Measurement> = {}): Measurement {
  return fixture(i, { timestamp: measurementInstant(T0 + i * 1000), device_id: device, value: i / 10, topic: `tele/f2-${device}/sensor-mode/J1/sensor-1`, received_at: null, ...extra })
}

const gauge = async (metrics: SinkMetrics, name: 'dbUp' | 'retries' | 'consumed' | 'rowsDuplicate'): Promise<number> =>
  (await metrics[name].get()).values[0]?.value ?? 0

const batchesBy = async (metrics: SinkMetrics, path: 'copy' | 'staging'): Promise<number> =>
  (await metrics.batches.get()).values.find(v => v.labels.path === path)?.value ?? 0

describe('sink (real Kafka and PostgreSQL)', () => {
  let pg: PrivatePostgres
  let sql: postgres.Sql
  let topics: TempTopics
  const running: Array<{ stage: SinkStage, sql: postgres.Sql }> = []

  beforeAll(async () => {
    pg = await startPrivatePostgres()
    sql = postgres(pg.url, { max: 2, onnotice: () => {} })
    await migrate(sql, 'timeseries')
    topics = await createTempTopics([uniqueName('sink_in'), uniqueName('sink_dead'), uniqueName('sink_in2'), uniqueName('sink_dead2')], 3)
  }, 60_000)

  afterAll(async () => {
    for (const r of running) {
      await r.stage.stop(3000).catch(() => {})
      await r.sql.end({ timeout: 1 }).catch(() => {})
    }
    await sql?.end({ timeout: 1 }).catch(() => {})
    pg?.destroy()
    await topics?.delete()
  })

  async function startSink (input: string, dead: string, group: string, extra: Record<string, string> = {}): Promise<{ stage: SinkStage, metrics: SinkMetrics }> {
    const u = new URL(pg.url)
    const config = loadSinkConfig({
      KAFKA_BOOTSTRAP_SERVERS: stackEnv().kafkaBootstrap,
      KAFKA_INPUT_TOPIC: input,
      KAFKA_DEAD_LETTER_TOPIC: dead,
      KAFKA_CONSUMER_GROUP: group,
      SINK_INSTANCE_ID: uniqueName('s'),
      TIMESCALE_HOST: u.hostname,
      TIMESCALE_PORT: u.port,
      TIMESCALE_DB: 'postgres',
      TIMESCALE_USER: 'ts_user',
      TIMESCALE_PASSWORD: 'unused',
      BATCH_TIMEOUT: '0.2',
      SINK_RETRY_MAX_MS: '500',
      ...extra
    })
    const metrics = createSinkMetrics(createRegistry(`sink-${group}`))
    const own = postgres(pg.url, { max: 2, onnotice: () => {}, connect_timeout: 2 })
    const stage = new SinkStage({ config, logger, metrics, writer: new TimeseriesWriter(own) })
    running.push({ stage, sql: own })
    await stage.start()
    return { stage, metrics }
  }

  const rowsOf = async (device: string): Promise<number> =>
    Number((await sql`SELECT count(*)::int AS n FROM iot_measurements WHERE device_id = ${device}`)[0]?.n)

  it('writes a batch around a row the database refuses and a record that is no measurement; stores a duplicate once', async () => {
    const [input, dead] = topics.names as [string, string]
    const group = uniqueName('sink_g')
    const { stage, metrics } = await startSink(input, dead, group)
    const device = 'aaaaaaaa0001'
    const rec = (value: Buffer | string): KafkaRecord => buildRecord(input, device, Buffer.isBuffer(value) ? value : Buffer.from(value))
    const good = Array.from({ length: 40 }, (_, i) => rec(JSON.stringify(measurement(device, i))))
    // Too large for the primary key's index: only the database can tell.
    const refused = rec(JSON.stringify(measurement(device, 100, { datapoint_label: randomBytes(6000).toString('base64') })))
    const invalid = rec(JSON.stringify({ ...measurement(device, 101), timestamp: 'not a time' }))
    await produceAll([...good.slice(0, 20), refused, invalid, ...good.slice(20), good[0] as KafkaRecord])

    expect(await pollUntil(async () => await rowsOf(device) >= 40, 30_000)).toBe(true)
    const dls = (await collect(dead, { count: 2, timeoutMs: 20_000 })).map(r => decodeDeadLetter(r.value))
    const reasons = dls.map(d => d.ok ? d.value.reason : 'undecodable').sort()
    expect(reasons).toEqual([ErrorCodes.DB_ROW_REJECTED, ErrorCodes.MEASUREMENT_INVALID].sort())
    for (const d of dls) {
      expect(d.ok && d.value.stage).toBe('sink')
      expect(d.ok && d.value.source?.topic).toBe(input)
      expect(d.ok && Buffer.from(d.value.original_value, 'base64').length).toBeGreaterThan(0)
    }
    expect(await pollUntil(async () => await groupLag(group, input) === 0n, 15_000)).toBe(true)
    // The first record came twice; it is stored once.
    expect(await rowsOf(device)).toBe(40)
    expect(await gauge(metrics, 'rowsDuplicate')).toBeGreaterThanOrEqual(1)

    // Delivered again later (a replay): still stored once, offsets still advance.
    await produceAll(good.slice(0, 5))
    expect(await pollUntil(async () => await groupLag(group, input) === 0n, 15_000)).toBe(true)
    expect(await rowsOf(device)).toBe(40)
    expect(await gauge(metrics, 'rowsDuplicate')).toBeGreaterThanOrEqual(6)
    await stage.stop(5000)
  }, 90_000)

  it('writes clean batches straight into the table; a redelivered batch falls back to staging and lands exactly once', async () => {
    const own = await createTempTopics([uniqueName('sink_in4'), uniqueName('sink_dead4')], 1)
    try {
      const [input, dead] = own.names as [string, string]
      const group = uniqueName('sink_g4')
      const { stage, metrics } = await startSink(input, dead, group)
      const device = 'aaaaaaaa0004'
      const rec = (m: Measurement): KafkaRecord => buildRecord(input, device, Buffer.from(JSON.stringify(m)))
      const first = Array.from({ length: 30 }, (_, i) => rec(measurement(device, i)))
      await produceAll(first)
      expect(await pollUntil(async () => await rowsOf(device) === 30, 30_000)).toBe(true)
      expect(await batchesBy(metrics, 'copy')).toBeGreaterThanOrEqual(1)
      expect(await batchesBy(metrics, 'staging')).toBe(0)
      // The same records again (a redelivery), then new ones.
      await produceAll([...first, ...Array.from({ length: 5 }, (_, i) => rec(measurement(device, 100 + i)))])
      expect(await pollUntil(async () => await groupLag(group, input) === 0n, 30_000)).toBe(true)
      expect(await rowsOf(device)).toBe(35)
      expect(await gauge(metrics, 'rowsDuplicate')).toBe(30)
      expect(await batchesBy(metrics, 'staging')).toBeGreaterThanOrEqual(1)
      const written = (await metrics.rowsWritten.get()).values[0]?.value
      expect(written).toBe(35)
      expect((await collect(dead, { count: 1, timeoutMs: 2000 }))).toHaveLength(0)
      await stage.stop(5000)
    } finally {
      await own.delete()
    }
  }, 90_000)

  it('dead-letters a row whose key is stored with another value (both values kept), absorbs an identical one, bounds a huge dead letter, and goes on', async () => {
    const own = await createTempTopics([uniqueName('sink_in3'), uniqueName('sink_dead3')], 1)
    try {
      const [input, dead] = own.names as [string, string]
      const group = uniqueName('sink_g3')
      const { stage, metrics } = await startSink(input, dead, group)
      const device = 'aaaaaaaa0003'
      const rec = (m: Measurement | Buffer): KafkaRecord => buildRecord(input, device, Buffer.isBuffer(m) ? m : Buffer.from(JSON.stringify(m)))
      await produceAll([rec(measurement(device, 1)), rec(measurement(device, 2))])
      expect(await pollUntil(async () => await rowsOf(device) === 2, 30_000)).toBe(true)
      expect(await batchesBy(metrics, 'staging')).toBe(0)
      // 900 KB that is no JSON: its dead letter would be 1.2 MB with the original in base64.
      const huge = Buffer.alloc(900_000, 0x5c)
      await produceAll([
        rec(measurement(device, 1)), // identical redelivery
        rec(measurement(device, 2, { value: 42, received_at: '2030-01-01T00:00:00.000000Z' })), // same key, another value
        rec(huge),
        rec(measurement(device, 3)) // sent after: lands
      ])
      expect(await pollUntil(async () => await rowsOf(device) === 3, 30_000)).toBe(true)
      const dls = (await collect(dead, { count: 2, timeoutMs: 20_000 }))
      expect(dls.every(r => r.value.length < KAFKA_MESSAGE_MAX_BYTES)).toBe(true)
      const decoded = dls.map(r => decodeDeadLetter(r.value)).map(d => { if (!d.ok) throw new Error('undecodable'); return d.value })
      const conflict = decoded.find(d => d.reason === ErrorCodes.CONFLICTING_DUPLICATE)
      expect(conflict?.details).toMatchObject({ stored: { value: 0.2, unit: '°C' }, received: { value: 42, received_at: '2030-01-01T00:00:00.000000Z' } })
      const tooBig = decoded.find(d => d.reason === ErrorCodes.MEASUREMENT_INVALID)
      expect(tooBig?.details).toMatchObject({ truncated: true, original_bytes: 900_000 })
      expect(decoded).toHaveLength(2)
      const [stored] = await sql`SELECT value FROM iot_measurements WHERE device_id = ${device} AND "timestamp" = ${measurement(device, 2).timestamp}`
      expect(stored?.value).toBe(0.2) // the first value stays
      expect(await gauge(metrics, 'rowsDuplicate')).toBe(1)
      expect(await batchesBy(metrics, 'staging')).toBeGreaterThanOrEqual(1) // the conflict was found on the staging path
      expect(await pollUntil(async () => await groupLag(group, input) === 0n, 15_000)).toBe(true)
      await stage.stop(5000)
    } finally {
      await own.delete()
    }
  }, 90_000)

  it('holds its input while the database is down, then writes everything once', async () => {
    const [, , input, dead] = topics.names as [string, string, string, string]
    const group = uniqueName('sink_down')
    const { stage, metrics } = await startSink(input, dead, group, { BATCH_SIZE: '50', SINK_MAX_BUFFERED: '100' })
    const device = 'bbbbbbbb0002'
    const rec = (i: number): KafkaRecord => buildRecord(input, device, Buffer.from(JSON.stringify(measurement(device, i))))
    await produceAll(Array.from({ length: 100 }, (_, i) => rec(i)))
    expect(await pollUntil(async () => await rowsOf(device) === 100, 30_000)).toBe(true)

    pg.stop('immediate')
    try {
      await produceAll(Array.from({ length: 1000 }, (_, i) => rec(100 + i)))
      expect(await pollUntil(async () => await gauge(metrics, 'dbUp') === 0 && await gauge(metrics, 'retries') >= 2, 30_000)).toBe(true)
      expect(stage.readiness().ready).toBe(false)
      // Reading paused: at most the buffer, the batch being retried and the one parsed behind it.
      const consumedDuringOutage = await gauge(metrics, 'consumed')
      expect(consumedDuringOutage).toBeLessThanOrEqual(100 + 100 + 2 * 50)
      expect(await groupLag(group, input)).toBeGreaterThanOrEqual(1000n - 300n)
    } finally {
      pg.start()
    }

    expect(await pollUntil(async () => await rowsOf(device) === 1100, 60_000, 500)).toBe(true)
    expect(await pollUntil(async () => await groupLag(group, input) === 0n, 15_000)).toBe(true)
    expect(await gauge(metrics, 'dbUp')).toBe(1)
    expect(stage.readiness().ready).toBe(true)
    const [stats] = await sql`SELECT count(*)::int AS total, count(DISTINCT "timestamp")::int AS distinct_ts FROM iot_measurements WHERE device_id = ${device}`
    expect(stats).toEqual({ total: 1100, distinct_ts: 1100 })
    expect(await collect(dead, { quietMs: 1000, timeoutMs: 5000 })).toEqual([])
    await stage.stop(5000)
  }, 120_000)
})
