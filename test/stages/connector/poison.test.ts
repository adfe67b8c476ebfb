import { Admin } from '@platformatic/kafka'
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMqttClient, type MqttHandle } from '../../../src/adapters/mqtt.ts'
import { KAFKA_MESSAGE_MAX_BYTES } from '../../../src/adapters/kafka.ts'
import { deadLetterValue, decodeDeadLetter } from '../../../src/core/dead-letter.ts'
import { decodeEnvelope } from '../../../src/core/envelope.ts'
import { freePort } from '../../../src/stack/ports.ts'
import { connectorEnv, startConnector, type TestConnector } from './harness.ts'
import { auth } from '../../../harness/mqtt-account.ts'
import { filtersFor, readRecords, testMacs } from '../../../harness/kafka.ts'
import { createTempTopics, stackEnv, uniqueName } from '../../../harness/stack.ts'
import { waitFor } from '../../../harness/wait.ts'

/**
 * Inputs that used to stall the connector for good: a payload whose envelope grows past the
 * broker's record limit, a record the broker refuses, and a QoS 0 flood while Kafka is down.
 */
const raw = uniqueName('raw')
const dlq = uniqueName('dlq')
/** A raw topic whose own limit (20 000 bytes) is below what the connector checks against. */
const small = uniqueName('raw-small')
const macs = testMacs(3)
const topicOf = (mac: string): string => `tele/f2-${mac}/sensor-mode/J1/sensor-1`
let dropTopics: () => Promise<void>
let publisher: MqttHandle
const connectors: TestConnector[] = []

beforeAll(async () => {
  dropTopics = (await createTempTopics([raw, dlq], 3)).delete
  const admin = new Admin({ clientId: 'test-admin', bootstrapBrokers: stackEnv().kafkaBootstrap.split(','), timeout: 10_000, retries: 3 })
  await admin.createTopics({ topics: [small], partitions: 1, replicas: 1, configs: [{ name: 'max.message.bytes', value: '20000' }] })
  await admin.close()
  publisher = createMqttClient({ url: stackEnv().mqttUrl, ...auth(), clientId: uniqueName('pub') })
  await publisher.waitConnected()
}, 60_000)

afterAll(async () => {
  await publisher?.close()
  for (const c of connectors) await c.stop()
  await dropTopics?.()
  const admin = new Admin({ clientId: 'test-admin', bootstrapBrokers: stackEnv().kafkaBootstrap.split(','), timeout: 5_000, retries: 0 })
  await admin.deleteTopics({ topics: [small] }).catch(() => {})
  await admin.close()
}, 30_000)

async function start (topic: string, mac: string, extra: Record<string, string> = {}, bootstrap?: string): Promise<TestConnector> {
  const c = await startConnector(connectorEnv({
    topic, deadLetterTopic: dlq, filters: filtersFor([mac]), clientId: uniqueName('conn'), group: uniqueName('g'),
    extra: { MQTT_SESSION_EXPIRY_S: '60', ...extra }, ...(bootstrap === undefined ? {} : { bootstrap })
  }))
  connectors.push(c)
  return c
}

describe('connector against poison input (real MQTT and Kafka)', () => {
  it('dead-letters 200 KB of 0x01 (a 1.2 MB envelope) and forwards the message sent after it', async () => {
    const mac = macs[0] as string
    const connector = await start(raw, mac)
    const payload = Buffer.alloc(200_000, 0x01)
    await publisher.publish(topicOf(mac), payload, { qos: 1 })
    await publisher.publish(topicOf(mac), JSON.stringify({ after: true }), { qos: 1 })
    await waitFor('both handled', () => connector.stage.stats().forwarded >= 1 && connector.stage.stats().deadLettered >= 1, 30_000)
    const forwarded = (await readRecords(raw, 1)).filter(r => r.key === mac)
    expect(forwarded.map(r => { const e = decodeEnvelope(r.value); return e.ok ? e.value.payload : null })).toEqual([{ after: true }])
    const dead = (await readRecords(dlq, 1)).filter(r => r.key === mac)
    expect(dead).toHaveLength(1)
    expect(dead[0]?.headers.get('reason')).toBe('F2_RECORD_TOO_LARGE')
    expect(dead[0]?.value.length).toBeLessThan(KAFKA_MESSAGE_MAX_BYTES)
    const dl = decodeDeadLetter(dead[0]?.value ?? Buffer.alloc(0))
    if (!dl.ok) throw new Error('undecodable dead letter')
    expect(dl.value).toMatchObject({ reason: 'F2_RECORD_TOO_LARGE', stage: 'connector', mqtt_topic: topicOf(mac) })
    expect(Buffer.from(deadLetterValue(dl.value))).toEqual(payload)
    expect(connector.stage.stats().inFlight).toBe(0)
  }, 60_000)

  it('isolates a record the broker refuses, dead-letters it with a bounded original, and goes on', async () => {
    const mac = macs[1] as string
    const connector = await start(small, mac, { CONNECTOR_BATCH_WAIT_MS: '50', DEAD_LETTER_MAX_BYTES: '4096' })
    const big = Buffer.from(JSON.stringify({ blob: 'x'.repeat(30_000) }))
    const sends: Array<Promise<void>> = []
    for (let i = 0; i < 10; i++) sends.push(publisher.publish(topicOf(mac), i === 4 ? big : JSON.stringify({ seq: i }), { qos: 1 }))
    await Promise.all(sends)
    await waitFor('all handled', () => connector.stage.stats().forwarded + connector.stage.stats().deadLettered >= 10, 30_000)
    const forwarded = await readRecords(small, 9)
    expect(forwarded.map(r => { const e = decodeEnvelope(r.value); return e.ok ? (e.value.payload as { seq: number }).seq : -1 })).toEqual([0, 1, 2, 3, 5, 6, 7, 8, 9])
    const dead = (await readRecords(dlq, 2)).filter(r => r.key === mac)
    expect(dead.map(r => r.headers.get('reason'))).toEqual(['F2_RECORD_REJECTED'])
    const dl = decodeDeadLetter(dead[0]?.value ?? Buffer.alloc(0))
    if (!dl.ok) throw new Error('undecodable dead letter')
    expect(dl.value.details).toMatchObject({ truncated: true, original_bytes: big.length, original_sha256: createHash('sha256').update(big).digest('hex') })
    expect(deadLetterValue(dl.value).length).toBe(4096)
    expect(connector.stage.stats().inFlight).toBe(0)
  }, 60_000)

  it('bounds the bytes held while Kafka is down: QoS 0 beyond the bound is dropped and counted, QoS 1 waits at the broker', async () => {
    const mac = macs[2] as string
    const bound = 64 * 1024
    const deadKafka = `127.0.0.1:${await freePort()}`
    const connector = await start(raw, mac, { CONNECTOR_MAX_IN_FLIGHT_BYTES: String(bound), KAFKA_REQUEST_TIMEOUT_MS: '500', MQTT_RECEIVE_MAXIMUM: '1000' }, deadKafka)
    const payload = Buffer.alloc(4000, 0x61)
    for (let i = 0; i < 100; i++) await publisher.publish(topicOf(mac), payload, { qos: 0 })
    await waitFor('QoS 0 flood seen', () => connector.stage.stats().received + connector.stage.stats().dropped >= 100 || connector.stage.stats().dropped > 0, 15_000)
    await new Promise(resolve => setTimeout(resolve, 1500))
    const s0 = connector.stage.stats()
    expect(s0.dropped).toBeGreaterThan(0)
    expect(s0.received).toBe(100)
    expect(s0.inFlightBytes).toBeLessThanOrEqual(bound + 2 * (payload.length + 400))
    expect(s0.inFlight + s0.dropped).toBe(100)
    const text = await connector.registry.metrics()
    expect(text).toMatch(new RegExp(`f2_connector_dropped_total\\{[^}]*reason="qos0_overflow"[^}]*\\} ${s0.dropped}`))
    expect(text).toMatch(/f2_connector_produce_blocked_seconds\{[^}]*\} [1-9]/)

    // QoS 1: reading pauses at the bound, the rest stays with the broker.
    const sends: Array<Promise<void>> = []
    for (let i = 0; i < 50; i++) sends.push(publisher.publish(topicOf(mac), payload, { qos: 1 }))
    await Promise.all(sends)
    await new Promise(resolve => setTimeout(resolve, 1000))
    const s1 = connector.stage.stats()
    expect(s1.received - s0.received).toBeLessThan(50)
    expect(s1.inFlightBytes).toBeLessThanOrEqual(bound + 2 * (payload.length + 400))
  }, 60_000)
})
