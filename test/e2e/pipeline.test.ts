import { setTimeout as sleep } from 'node:timers/promises'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { KafkaRecord } from '../../src/adapters/kafka.ts'
import { decodeActivities } from '../../src/core/activity.ts'
import { decodeDeadLetter } from '../../src/core/dead-letter.ts'
import { ErrorCodes } from '../../src/core/errors.ts'
import { migrate } from '../../src/storage/migrate.ts'
import { createTempDatabase, createTempTopics, roleUrl, stackEnv, uniqueName, type TempDatabase, type TempTopics } from '../../harness/stack.ts'
import { startPrivatePostgres, type PrivatePostgres } from '../../harness/private-postgres.ts'
import { collect, deviceTime, produceAll, rawRecord, spawnCli, type ChildService } from '../../harness/e2e-support.ts'
import { postgresEnv } from '../../src/adapters/connections/postgres.ts'
import { pollUntil } from '../../harness/wait.ts'

/**
 * The processor and the sink as real processes between real Kafka and PostgreSQL:
 * kill -9 of each mid-stream (restarted as the supervisor would), and a PostgreSQL restart
 * mid-stream. Every message must end up as rows or as dead letters: nothing missing, nothing twice.
 */
// Device times must lie within the processor's window around receipt: yesterday, 00:00 UTC.
const T0 = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000
const N = 3000
const LIVING_ROOM = 'tele/f2-e4fd45f654be/sensor-mode/J1/sensor-1'
const KITCHEN = 'tele/f2-abc123def456/sensor-mode/J2/sensor-2'
const DOORS = 'stat/f2-e4fd45f654be/access-control-mode/J2/door-sensors'
const UNKNOWN = 'tele/f2-0000000000ff/sensor-mode/J1/sensor-1'

/** The known set: message i, its expected row count (0 = dead letter). */
function message (topic: string, i: number): { record: KafkaRecord, rows: number } {
  const timestamp = deviceTime(T0 + i * 1000)
  switch (i % 4) {
    case 0: return { record: rawRecord(topic, LIVING_ROOM, { timestamp, data: '0A EA 13 92 01 A4' }), rows: 3 }
    case 1: return { record: rawRecord(topic, KITCHEN, { timestamp, data: '08FC03E8' }), rows: 2 }
    case 2: return { record: rawRecord(topic, DOORS, { timestamp, 'door-sensor-1': i % 8 === 2, 'door-sensor-2': true }), rows: 2 }
    default: return i % 8 === 3
      ? { record: rawRecord(topic, UNKNOWN, { timestamp, data: '0AEA139201A4' }), rows: 0 }
      : { record: rawRecord(topic, `stat/f2-e4fd45f654be/alarm-mode/J1/motion-sensor-${1 + (i % 5)}`, { timestamp, status: true }), rows: 1 }
  }
}

describe('pipeline end to end: crashes and a database restart lose and duplicate nothing', () => {
  let registry: TempDatabase
  let pg: PrivatePostgres
  let ts: postgres.Sql
  let topics: TempTopics
  const children: ChildService[] = []

  beforeAll(async () => {
    registry = await createTempDatabase('registry')
    const reg = postgres(registry.url, { max: 1, onnotice: () => {} })
    await migrate(reg, 'registry')
    await reg.end()
    pg = await startPrivatePostgres()
    ts = postgres(pg.url, { max: 2, onnotice: () => {} })
    await migrate(ts, 'timeseries')
    topics = await createTempTopics([uniqueName('e2e_raw'), uniqueName('e2e_decoded'), uniqueName('e2e_dead'), uniqueName('e2e_activity')], 3)
  })

  afterAll(async () => {
    for (const c of children) await c.kill('SIGKILL')
    await ts?.end({ timeout: 1 }).catch(() => {})
    pg?.destroy()
    await registry?.drop()
    await topics?.delete()
  })

  it('accounts for every message exactly once', async () => {
    const [raw, decoded, dead, activity] = topics.names as [string, string, string, string]
    const common = { KAFKA_BOOTSTRAP_SERVERS: stackEnv().kafkaBootstrap, KAFKA_DEAD_LETTER_TOPIC: dead, KAFKA_SESSION_TIMEOUT_MS: '6000', HTTP_PORT: '0' }
    const processorEnv = {
      // As the stack runs it: the processor's own read-only role.
      ...common, ...postgresEnv('registry', roleUrl('registry', 'processor', registry.name)),
      KAFKA_INPUT_TOPIC: raw, KAFKA_OUTPUT_TOPIC: decoded, KAFKA_ACTIVITY_TOPIC: activity,
      KAFKA_CONSUMER_GROUP: uniqueName('e2e_proc'), PROCESSOR_INSTANCE_ID: uniqueName('p'), PROCESSOR_BATCH_SIZE: '200'
    }
    const sinkEnv = {
      // The private server trusts local connections; the sink still needs a password set.
      ...common, ...postgresEnv('timeseries', pg.url), TIMESCALE_PASSWORD: 'unused',
      KAFKA_INPUT_TOPIC: decoded, KAFKA_CONSUMER_GROUP: uniqueName('e2e_sink'), SINK_INSTANCE_ID: uniqueName('s'),
      SINK_BATCH_SIZE: '300', SINK_BATCH_WAIT_MS: '100', SINK_RETRY_MAX_MS: '1000'
    }
    const start = (what: 'processor' | 'sink'): ChildService => {
      const c = spawnCli([what], what === 'processor' ? processorEnv : sinkEnv)
      children.push(c)
      return c
    }
    let processor = start('processor')
    let sink = start('sink')

    const messages = Array.from({ length: N }, (_, i) => message(raw, i))
    const expectedRows = messages.reduce((n, m) => n + m.rows, 0)
    const expectedDead = messages.filter(m => m.rows === 0).length
    const chunks = 10
    const per = N / chunks
    let sinkLogs = ''
    for (let c = 0; c < chunks; c++) {
      // The database goes down while a chunk is on its way to it.
      if (c === 6) pg.stop('immediate')
      await produceAll(messages.slice(c * per, (c + 1) * per).map(m => m.record))
      await sleep(300)
      if (c === 2) { await processor.kill('SIGKILL'); processor = start('processor') }
      if (c === 4) { await sink.kill('SIGKILL'); sink = start('sink') }
      if (c === 6) {
        // Down until the sink has tried and held its batch (it may still be rejoining after its kill).
        await pollUntil(async () => sink.output().includes('database write failed; batch held, retrying'), 30_000)
        sinkLogs = sink.output()
        pg.start()
      }
    }
    // The sink saw the outage and held the batch (it retried instead of dropping it).
    expect(sinkLogs, `sink now:\n${sink.output()}\nprocessor:\n${processor.output()}`).toContain('database write failed; batch held, retrying')

    const count = async (): Promise<number> => Number((await ts`SELECT count(*)::int AS n FROM iot_measurements`.catch(() => [{ n: -1 }]))[0]?.n)
    const arrived = await pollUntil(async () => await count() >= expectedRows, 120_000, 500)
    // Whatever was still in flight lands now or never: give it a moment, then count for good.
    await sleep(2000)
    const [stats] = await ts`SELECT count(*)::int AS total,
      count(DISTINCT ("timestamp", device_id, connector, connector_mode, datapoint_label, pin_position))::int AS distinct_keys
      FROM iot_measurements`
    expect({ arrived, ...stats }, `processor:\n${processor.output()}\nsink:\n${sink.output()}`).toEqual({ arrived: true, total: expectedRows, distinct_keys: expectedRows })

    // The seed's sample devices decode to the exact expected values; other kinds land as states.
    const values = await ts`SELECT device_id, datapoint_label, array_agg(DISTINCT value) AS v, count(*)::int AS n
      FROM iot_measurements GROUP BY 1, 2 ORDER BY 1, 2`
    const byKey = Object.fromEntries(values.map(r => [`${r.device_id}/${r.datapoint_label}`, { v: r.v, n: r.n }]))
    expect(byKey['e4fd45f654be/Temperature']).toEqual({ v: [27.94], n: N / 4 })
    expect(byKey['e4fd45f654be/Humidity']).toEqual({ v: [50.1], n: N / 4 })
    expect(byKey['e4fd45f654be/CO2']).toEqual({ v: [420], n: N / 4 })
    expect(byKey['abc123def456/Voltage']).toEqual({ v: [230], n: N / 4 })
    expect(byKey['abc123def456/Current']).toEqual({ v: [1], n: N / 4 })
    expect(byKey['e4fd45f654be/door-sensor']?.v).toEqual([0, 1])
    expect(byKey['e4fd45f654be/motion-sensor-status']).toEqual({ v: [1], n: N / 8 })

    // Every other message is a dead letter with its reason (transactional: exactly once).
    const dls = (await collect(dead, { quietMs: 3000, timeoutMs: 30_000 })).map(r => decodeDeadLetter(r.value))
    expect(dls.length).toBe(expectedDead)
    expect(new Set(dls.map(d => d.ok && d.value.reason))).toEqual(new Set([ErrorCodes.REGISTRY_UNKNOWN_CONTROLLER]))
    expect(new Set(dls.map(d => d.ok && `${d.value.source?.partition}/${d.value.source?.offset}`)).size).toBe(expectedDead)
    // And one activity record per message, through the kills too (the same transactions).
    const activities = (await collect(activity, { quietMs: 3000, timeoutMs: 30_000 })).flatMap(r => decodeActivities(r.value)?.activities ?? [])
    expect(activities.length).toBe(N)
    expect(activities.reduce((n, a) => n + a.rows, 0)).toBe(expectedRows)

    await processor.kill('SIGTERM')
    await sink.kill('SIGTERM')
    expect(processor.child.exitCode).toBe(0)
    expect(sink.child.exitCode).toBe(0)
  }, 240_000)
})
