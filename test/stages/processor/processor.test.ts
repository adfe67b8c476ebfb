import { compatibilityPartitioner } from '@platformatic/kafka'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import postgres from 'postgres'
import { createLogger } from '../../../src/adapters/logger.ts'
import { createRegistry } from '../../../src/adapters/metrics.ts'
import { decodeActivities } from '../../../src/core/activity.ts'
import { decodeDeadLetter } from '../../../src/core/dead-letter.ts'
import { ErrorCodes } from '../../../src/core/errors.ts'
import type { Measurement } from '../../../src/core/measurement.ts'
import { RegistryStore } from '../../../src/registry/store.ts'
import { migrate } from '../../../src/storage/migrate.ts'
import { loadProcessorConfig } from '../../../src/stages/processor/config.ts'
import { createProcessorMetrics, type ProcessorMetrics } from '../../../src/stages/processor/metrics.ts'
import { replayDeadLetters } from '../../../src/stages/processor/replay.ts'
import { ProcessorStage } from '../../../src/stages/processor/stage.ts'
import { createTempDatabase, createTempTopics, roleUrl, uniqueName, type TempDatabase, type TempTopics } from '../../../harness/stack.ts'
import { brokers, collect, deviceTime, groupLag, processorTestEnv, produceAll, rawRecord, registerEnvSensor } from '../../../harness/e2e-support.ts'
import { pollUntil } from '../../../harness/wait.ts'

const logger = createLogger('processor-test', 'warn')
// Device times must lie within the window around receipt (TIMESTAMP_MAX_AGE_S): yesterday, 12:00 UTC.
const T0 = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 43_200_000

describe('processor (real Kafka and registry)', () => {
  let db: TempDatabase
  let sql: postgres.Sql
  let processorSql: postgres.Sql
  let topics: TempTopics
  let raw: string, decoded: string, activity: string, dead: string
  const stages: Array<{ stage: ProcessorStage, store: RegistryStore, metrics: ProcessorMetrics }> = []

  beforeAll(async () => {
    db = await createTempDatabase('registry')
    sql = postgres(db.url, { max: 4, onnotice: () => {} })
    await migrate(sql, 'registry')
    // The stages resolve as the processor's own read-only role; `sql` (the owner) registers sensors.
    processorSql = postgres(roleUrl('registry', 'processor', db.name), { max: 4, onnotice: () => {} })
    raw = uniqueName('raw'); decoded = uniqueName('decoded'); activity = uniqueName('activity'); dead = uniqueName('dead')
    topics = await createTempTopics([raw, decoded, activity, dead], 3)
  })

  afterAll(async () => {
    for (const s of stages) { await s.stage.stop(5000).catch(() => {}); await s.store.close() }
    await processorSql?.end()
    await sql?.end()
    await db?.drop()
    await topics?.delete()
  })

  function startStage (group: string, instance: string, extra: Record<string, string> = {}): ProcessorStage {
    const config = loadProcessorConfig(processorTestEnv({ raw, decoded, activity, dead }, group, instance, db.name, extra))
    const metrics = createProcessorMetrics(createRegistry(`processor-${instance}`))
    const store = new RegistryStore(processorSql, { onHit: () => metrics.cacheHits.inc(), onMiss: () => metrics.cacheMisses.inc() })
    const stage = new ProcessorStage({ config, logger, metrics, resolver: store })
    stages.push({ stage, store, metrics })
    return stage
  }

  it('decodes every component kind, dead-letters failures with reasons, commits offsets', async () => {
    const group = uniqueName('proc')
    const s = stages.length
    const stage = startStage(group, 'p1')
    await stages[s]?.store.start()
    await stage.start()
    const ts = deviceTime(T0)
    const mac = 'e4fd45f654be'
    await produceAll([
      rawRecord(raw, `tele/f2-${mac}/sensor-mode/J1/sensor-1`, { timestamp: ts, data: '0A EA 13 92 01 A4' }),
      rawRecord(raw, 'tele/f2-abc123def456/sensor-mode/J2/sensor-2', { timestamp: ts, data: '08FC03E8' }),
      rawRecord(raw, `stat/f2-${mac}/access-control-mode/J2/door-sensors`, { timestamp: ts, 'door-sensor-1': false, 'door-sensor-2': true }),
      rawRecord(raw, `stat/f2-${mac}/access-control-mode/J2/exit-buttons`, { timestamp: ts, 'exit-button-1': true, 'exit-button-2': false }),
      rawRecord(raw, `stat/f2-${mac}/access-control-mode/J2/strike-1`, { timestamp: ts, status: true }),
      rawRecord(raw, `tele/f2-${mac}/access-control-mode/J2/reader-1`, { timestamp: ts, data: "b'\"Hello World\"'" }),
      rawRecord(raw, `stat/f2-${mac}/alarm-mode/J1/siren-2`, { timestamp: ts, status: false }),
      rawRecord(raw, `stat/f2-${mac}/alarm-mode/J1/motion-sensor-5`, { timestamp: ts, status: true }),
      // failures
      rawRecord(raw, 'tele/f2-aaaaaaaaaaaa/sensor-mode/J1/sensor-1', { timestamp: ts, data: '0AEA139201A4' }),
      rawRecord(raw, `tele/f2-${mac}/sensor-mode/J3/sensor-6`, { timestamp: ts, data: '0AEA139201A4' }),
      rawRecord(raw, `stat/f2-${mac}/alarm-mode/J1/motion-sensor-1`, { timestamp: 'not-a-time', status: true }),
      { topic: raw, key: Buffer.from(mac), value: Buffer.from('\u0000garbage') }
    ])
    const out = await collect(decoded, { count: 3 + 2 + 2 + 2 + 1 + 1 + 1 + 1, timeoutMs: 30_000 })
    const rows = out.map(r => JSON.parse(r.value.toString()) as Measurement)
    const byLabel = (device: string, label: string) => rows.filter(r => r.device_id === device && r.datapoint_label === label)
    expect(byLabel(mac, 'Temperature').map(r => [r.value, r.unit, r.timestamp])).toEqual([[27.94, '°C', new Date(T0).toISOString().replace('Z', '000Z')]])
    expect(byLabel(mac, 'Humidity').map(r => r.value)).toEqual([50.1])
    expect(byLabel(mac, 'CO2').map(r => r.value)).toEqual([420])
    expect(byLabel('abc123def456', 'Voltage').map(r => r.value)).toEqual([230])
    expect(byLabel('abc123def456', 'Current').map(r => r.value)).toEqual([1])
    expect(byLabel(mac, 'door-sensor').map(r => [r.pin_position, r.value]).sort()).toEqual([['1', 0], ['2', 1]])
    expect(byLabel(mac, 'exit-button')).toHaveLength(2)
    expect(byLabel(mac, 'strike-status').map(r => r.value)).toEqual([1])
    expect(byLabel(mac, 'scan').map(r => r.value_text)).toEqual(['"Hello World"'])
    expect(byLabel(mac, 'siren-status').map(r => [r.pin_position, r.value])).toEqual([['2', 0]])
    expect(byLabel(mac, 'motion-sensor-status').map(r => [r.pin_position, r.value])).toEqual([['5', 1]])
    expect(out.every(r => r.key === JSON.parse(r.value.toString()).device_id)).toBe(true)
    // The stage cuts produce requests per partition on this very mapping (murmur2 of the key).
    expect(out.every(r => r.partition === compatibilityPartitioner({ topic: decoded }, Buffer.from(r.key ?? '')) % 3)).toBe(true)
    expect(rows).toHaveLength(13)

    const dls = (await collect(dead, { count: 4, timeoutMs: 20_000 })).map(r => decodeDeadLetter(r.value))
    const reasons = dls.map(d => d.ok ? d.value.reason : 'undecodable').sort()
    expect(reasons).toEqual([ErrorCodes.ENVELOPE_INVALID, ErrorCodes.REGISTRY_UNKNOWN_CONTROLLER, ErrorCodes.REGISTRY_UNWIRED_PIN, ErrorCodes.TIMESTAMP_INVALID].sort())
    for (const d of dls) {
      expect(d.ok && d.value.source?.topic).toBe(raw)
      expect(d.ok && d.value.original_value.length).toBeGreaterThan(0)
    }
    expect(await pollUntil(async () => await groupLag(group, raw) === 0n, 15_000)).toBe(true)

    // One activity per message that names a controller (all but the garbage), in the same
    // transactions: its measurements, also for the messages that were dead-lettered.
    const records = await collect(activity, { quietMs: 2000, timeoutMs: 20_000 })
    const activities = records.flatMap(r => (decodeActivities(r.value)?.activities ?? []).map(a => ({ partition: r.key, a })))
    expect(activities).toHaveLength(11)
    // Gathered per raw_iot_data partition (the record's key): a controller's messages share one.
    const rawPartitionOf = new Map((await collect(raw, { count: 12, timeoutMs: 20_000 })).map(r => [r.key, r.partition]))
    for (const { partition, a } of activities) expect(partition, a.device_id).toBe(String(rawPartitionOf.get(a.device_id)))
    expect(activities.reduce((n, { a }) => n + (a?.rows ?? 0), 0)).toBe(13)
    expect(activities.reduce((n, { a }) => n + (a?.values.length ?? 0), 0)).toBe(13)
    expect(activities.filter(({ a }) => a?.rows === 0).map(({ a }) => a?.device_id).sort()).toEqual(['aaaaaaaaaaaa', mac, mac].sort())
    expect(activities.filter(({ a }) => a?.device_id === mac).map(({ a }) => a?.mode).sort())
      .toEqual(['access-control-mode', 'access-control-mode', 'access-control-mode', 'access-control-mode', 'alarm-mode', 'alarm-mode', 'alarm-mode', 'sensor-mode', 'sensor-mode'])

    // Register the unknown controller, replay its dead letters: its readings land.
    await registerEnvSensor(sql, 'aaaaaaaaaaaa', 1, 1)
    const report = await replayDeadLetters({ brokers: brokers(), deadLetterTopic: dead, inputTopic: raw, reason: ErrorCodes.REGISTRY_UNKNOWN_CONTROLLER, logger })
    expect(report).toMatchObject({ matched: 1, replayed: 1 })
    const after = await collect(decoded, { count: 16, timeoutMs: 30_000 })
    const replayed = after.map(r => JSON.parse(r.value.toString()) as Measurement).filter(r => r.device_id === 'aaaaaaaaaaaa')
    expect(replayed.map(r => [r.datapoint_label, r.value]).sort()).toEqual([['CO2', 420], ['Humidity', 50.1], ['Temperature', 27.94]])
    await stage.stop(5000)
  })

  it('shares the partitions between two instances, each record decoded once (read_committed)', async () => {
    const group = uniqueName('proc2')
    const own = await createTempTopics([uniqueName('raw2'), uniqueName('decoded2'), uniqueName('dead2')], 3)
    const [raw2, decoded2, dead2] = own.names as [string, string, string]
    const extra = { KAFKA_INPUT_TOPIC: raw2, KAFKA_OUTPUT_TOPIC: decoded2, KAFKA_DEAD_LETTER_TOPIC: dead2 }
    const s = stages.length
    const a = startStage(group, 'pa', extra)
    const b = startStage(group, 'pb', extra)
    try {
      await stages[s]?.store.start(); await stages[s + 1]?.store.start()
      await a.start(); await b.start()
      const n = 3000
      const records = Array.from({ length: n }, (_, i) => rawRecord(raw2, `stat/f2-${(0x100000000000 + i % 50).toString(16)}/alarm-mode/J1/motion-sensor-1`, { timestamp: deviceTime(T0 + i), status: i % 2 === 0 }))
      await produceAll(records)
      const out = await collect(decoded2, { count: n, timeoutMs: 60_000 })
      const rows = out.map(r => JSON.parse(r.value.toString()) as Measurement)
      expect(new Set(rows.map(m => `${m.device_id}|${m.timestamp}`)).size).toBe(n)
      expect(await pollUntil(async () => await groupLag(group, raw2) === 0n, 20_000)).toBe(true)
      // Nothing more arrives later (no duplicate outputs committed), and both instances took part.
      expect((await collect(decoded2, { quietMs: 2000, timeoutMs: 20_000 })).length).toBe(n)
      const consumed = await Promise.all([s, s + 1].map(async i => (await stages[i]?.metrics.consumed.get())?.values[0]?.value ?? 0))
      expect(consumed.every(c => c > 0)).toBe(true)
      expect(consumed.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(n)
      expect(await collect(dead2, { quietMs: 1000, timeoutMs: 10_000 })).toEqual([])
    } finally {
      // Stopped before their topics go: a consumer whose topic is deleted under it fails its
      // metadata refresh while closing, and its close never returns.
      await a.stop(5000); await b.stop(5000)
      await own.delete()
    }
  })
})
