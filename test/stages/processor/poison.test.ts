import { Admin } from '@platformatic/kafka'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postgresEnv } from '../../../src/adapters/connections/postgres.ts'
import { buildRecord, KAFKA_MESSAGE_MAX_BYTES, type KafkaRecord } from '../../../src/adapters/kafka.ts'
import { createLogger } from '../../../src/adapters/logger.ts'
import { createRegistry } from '../../../src/adapters/metrics.ts'
import { decodeDeadLetter, type DeadLetter } from '../../../src/core/dead-letter.ts'
import { buildEnvelope, encodeEnvelope } from '../../../src/core/envelope.ts'
import type { Measurement } from '../../../src/core/measurement.ts'
import { RegistryStore } from '../../../src/registry/store.ts'
import { migrate } from '../../../src/storage/migrate.ts'
import { loadProcessorConfig } from '../../../src/stages/processor/config.ts'
import { createProcessorMetrics } from '../../../src/stages/processor/metrics.ts'
import { ProcessorStage } from '../../../src/stages/processor/stage.ts'
import { createTempDatabase, createTempTopics, roleUrl, stackEnv, uniqueName, type TempDatabase, type TempTopics } from '../../../harness/stack.ts'
import { brokers, collect, deviceTime, groupLag, produceAll } from '../../../harness/e2e-support.ts'
import { pollUntil } from '../../../harness/wait.ts'

/**
 * Records that used to stall the processor for good, through the real Kafka: outputs and dead
 * letters larger than the record limit, a record the broker refuses, device times outside the
 * window. Each ends as a dead letter, and a message sent after it still lands.
 */
const logger = createLogger('processor-poison-test', process.env.TEST_LOG_LEVEL ?? 'silent')
const MAC = 'e4fd45f654be'
const READER = `tele/f2-${MAC}/access-control-mode/J1/reader-1`
const STRIKE = `stat/f2-${MAC}/access-control-mode/J2/strike-1`

/** A raw record exactly as the connector writes it for `payload`, received now. */
function raw (topic: string, mqttTopic: string, payload: Buffer | string, receivedAtMs = Date.now()): KafkaRecord {
  const env = buildEnvelope({ topic: mqttTopic, payload: Buffer.from(payload), receivedAtMs, qos: 1, retain: false })
  return buildRecord(topic, env.device_id, encodeEnvelope(env))
}
const reading = (status: boolean, atMs = Date.now()): string => JSON.stringify({ timestamp: deviceTime(atMs), status })

describe('processor against poison input (real Kafka)', () => {
  let db: TempDatabase
  let sql: postgres.Sql
  const owned: TempTopics[] = []
  const stages: Array<{ stage: ProcessorStage, store: RegistryStore }> = []

  beforeAll(async () => {
    db = await createTempDatabase('registry')
    sql = postgres(db.url, { max: 4, onnotice: () => {} })
    await migrate(sql, 'registry')
  })

  afterAll(async () => {
    for (const s of stages) { await s.stage.stop(5000).catch(() => {}); await s.store.close() }
    await sql?.end()
    await db?.drop()
    for (const t of owned) await t.delete().catch(() => {})
  })

  async function topics (decodedLimit?: number): Promise<[string, string, string]> {
    const names: [string, string, string] = [uniqueName('raw'), uniqueName('decoded'), uniqueName('dead')]
    if (decodedLimit === undefined) {
      owned.push(await createTempTopics(names, 1))
    } else {
      owned.push(await createTempTopics([names[0], names[2]], 1))
      const admin = new Admin({ clientId: 'test-admin', bootstrapBrokers: brokers(), timeout: 10_000 })
      await admin.createTopics({ topics: [names[1]], partitions: 1, replicas: 1, configs: [{ name: 'max.message.bytes', value: String(decodedLimit) }] })
      await admin.close()
      owned.push({ names: [names[1]], delete: async () => { const a = new Admin({ clientId: 'test-admin', bootstrapBrokers: brokers() }); await a.deleteTopics({ topics: [names[1]] }).catch(() => {}); await a.close() } } as TempTopics)
    }
    return names
  }

  async function start ([input, output, dead]: [string, string, string], extra: Record<string, string> = {}): Promise<{ stage: ProcessorStage, group: string }> {
    const group = uniqueName('proc')
    const config = loadProcessorConfig({
      KAFKA_BOOTSTRAP_SERVERS: stackEnv().kafkaBootstrap, KAFKA_INPUT_TOPIC: input, KAFKA_OUTPUT_TOPIC: output, KAFKA_DEAD_LETTER_TOPIC: dead,
      KAFKA_CONSUMER_GROUP: group, PROCESSOR_INSTANCE_ID: uniqueName('p'), PROCESSOR_BATCH_WAIT_MS: '200',
      // The outputs under test are measurements and dead letters (activity: processor.test.ts).
      PROCESSOR_DEVICE_ACTIVITY: 'false',
      ...postgresEnv('registry', roleUrl('registry', 'processor', db.name)), ...extra
    })
    const metrics = createProcessorMetrics(createRegistry(`processor-${group}`))
    const store = new RegistryStore(sql)
    const stage = new ProcessorStage({ config, logger, metrics, resolver: store })
    stages.push({ stage, store })
    await store.start()
    await stage.start()
    return { stage, group }
  }

  const deadLetters = async (dead: string, count: number): Promise<DeadLetter[]> => {
    const records = await collect(dead, { count, timeoutMs: 30_000 })
    for (const r of records) expect(r.value.length).toBeLessThan(KAFKA_MESSAGE_MAX_BYTES)
    return records.map(r => { const d = decodeDeadLetter(r.value); if (!d.ok) throw new Error('undecodable dead letter'); return d.value })
  }

  it('dead-letters 150 KB of 0x01, 450 KB of backslashes and a 400 KB reader scan of U+0080 within the record limit; the next message lands', async () => {
    const names = await topics()
    const [input, output, dead] = names
    const { group } = await start(names)
    const scan = Buffer.from(`{"timestamp": "${deviceTime(Date.now())}", "data": "b'${'\u0080'.repeat(200_000)}'"}`)
    expect(scan.length).toBeGreaterThan(400_000)
    await produceAll([
      raw(input, STRIKE, Buffer.alloc(150_000, 0x01)), // 900 KB envelope; its dead letter would be 1.2 MB
      raw(input, STRIKE, Buffer.alloc(450_000, 0x5c)), // the same with backslashes
      raw(input, READER, scan), // a valid scan whose measurement is 1.2 MB
      raw(input, STRIKE, reading(true)) // sent after: lands
    ], 1) // one record per request: together they exceed what one request may carry
    const out = await collect(output, { count: 1, timeoutMs: 30_000 })
    expect(out.map(r => (JSON.parse(r.value.toString()) as Measurement).datapoint_label)).toEqual(['strike-status'])
    const dls = await deadLetters(dead, 3)
    expect(dls.map(d => d.reason)).toEqual(['F2_PAYLOAD_NOT_JSON', 'F2_PAYLOAD_NOT_JSON', 'F2_RECORD_TOO_LARGE'])
    for (const d of dls.slice(0, 2)) expect(d.details).toMatchObject({ truncated: true, original_bytes: 900_223 })
    // Characters above U+007F make the scan a binary reader frame (hex of its UTF-8 bytes): 1.2 MB.
    expect(dls[2]?.details).toMatchObject({ label: 'reader-frame', limit: KAFKA_MESSAGE_MAX_BYTES })
    expect(await pollUntil(async () => await groupLag(group, input) === 0n, 15_000)).toBe(true)
  }, 120_000)

  it.each(['true', 'false'])('isolates an output the broker refuses (transactions %s), dead-letters its message and writes the rest of the batch', async transactions => {
    const names = await topics(20_000)
    const [input, output, dead] = names
    const { group } = await start(names, { PROCESSOR_TRANSACTIONS: transactions })
    const scan = JSON.stringify({ timestamp: deviceTime(Date.now()), data: `b'${'A'.repeat(30_000)}'` })
    const records = Array.from({ length: 12 }, (_, i) => i === 5 ? raw(input, READER, scan) : raw(input, STRIKE, reading(i % 2 === 0, Date.now() - i * 1000)))
    await produceAll(records)
    // Without transactions the probes are real sends: repeats are allowed (the sink's key absorbs them).
    const exactlyOnce = transactions === 'true'
    const distinct = (rs: Array<{ value: Buffer }>): number => new Set(rs.map(r => r.value.toString())).size
    const out = await collect(output, exactlyOnce ? { count: 11, timeoutMs: 30_000 } : { quietMs: 2000, timeoutMs: 30_000 })
    expect(exactlyOnce ? out.length : distinct(out)).toBe(11)
    const dls = await deadLetters(dead, 1)
    expect(dls.map(d => [d.reason, d.mqtt_topic])).toEqual([['F2_RECORD_REJECTED', READER]])
    expect(await pollUntil(async () => await groupLag(group, input) === 0n, 15_000)).toBe(true)
    // The batch after goes straight through.
    await produceAll([raw(input, STRIKE, reading(true, Date.now() - 60_000))])
    const after = await collect(output, exactlyOnce ? { count: 12, timeoutMs: 30_000 } : { quietMs: 2000, timeoutMs: 30_000 })
    expect(exactlyOnce ? after.length : distinct(after)).toBe(12)
  }, 120_000)

  it('dead-letters device times outside the window around receipt (F2_TIMESTAMP_OUT_OF_WINDOW)', async () => {
    const names = await topics()
    const [input, output, dead] = names
    await start(names, { TIMESTAMP_MAX_AHEAD_S: '3600', TIMESTAMP_MAX_AGE_S: String(30 * 86400) })
    const now = Date.now()
    await produceAll([
      raw(input, STRIKE, reading(true, now + 2 * 3600_000)), // 2 h ahead
      raw(input, STRIKE, reading(true, now - 40 * 86400_000)), // 40 days old
      raw(input, STRIKE, reading(true, Date.UTC(9999, 0, 1))), // a valid instant, absurdly far
      raw(input, STRIKE, reading(false, now - 29 * 86400_000)), // old, within the window
      raw(input, STRIKE, reading(true, now + 1800_000)) // ahead, within the window
    ])
    const out = await collect(output, { count: 2, timeoutMs: 30_000 })
    expect(out).toHaveLength(2)
    const dls = await deadLetters(dead, 3)
    expect(dls.map(d => [d.reason, (d.details as { side: string }).side])).toEqual([
      ['F2_TIMESTAMP_OUT_OF_WINDOW', 'ahead'], ['F2_TIMESTAMP_OUT_OF_WINDOW', 'behind'], ['F2_TIMESTAMP_OUT_OF_WINDOW', 'ahead']
    ])
  }, 120_000)
})
