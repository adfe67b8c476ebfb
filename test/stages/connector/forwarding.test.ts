import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMqttClient, type MqttHandle } from '../../../src/adapters/mqtt.ts'
import { decodeDeadLetter } from '../../../src/core/dead-letter.ts'
import { decodeEnvelope } from '../../../src/core/envelope.ts'
import { connectorEnv, startConnector, type TestConnector } from './harness.ts'
import { filtersFor, readRecords, testMacs } from '../../../harness/kafka.ts'
import { createTempTopics, stackEnv, uniqueName } from '../../../harness/stack.ts'
import { auth } from '../../../harness/mqtt-account.ts'
import { waitFor } from '../../../harness/wait.ts'

const raw = uniqueName('raw')
const dlq = uniqueName('dlq')
const macs = testMacs(5)
const odd = uniqueName('odd')
let dropTopics: () => Promise<void>
let connector: TestConnector
let publisher: MqttHandle

beforeAll(async () => {
  dropTopics = (await createTempTopics([raw, dlq], 3)).delete
  connector = await startConnector(connectorEnv({
    topic: raw, deadLetterTopic: dlq, filters: [...filtersFor(macs), `${odd}/#`], clientId: uniqueName('conn'), group: uniqueName('g'),
    extra: { MAX_PAYLOAD_BYTES: '2048', DEAD_LETTER_MAX_BYTES: '1024' }
  }))
  publisher = createMqttClient({ url: stackEnv().mqttUrl, ...auth(), clientId: uniqueName('pub') })
  await publisher.waitConnected()
}, 60_000)

afterAll(async () => {
  await publisher?.close()
  await connector?.stop()
  await dropTopics?.()
})

describe('connector forwarding', () => {
  it('forwards every message once, keyed by controller, in per-device order', async () => {
    const devices = macs.slice(0, 4)
    const perDevice = 250
    const sends: Array<Promise<void>> = []
    for (let i = 0; i < perDevice; i++) {
      for (const mac of devices) {
        sends.push(publisher.publish(`tele/f2-${mac}/sensor-mode/J1/sensor-1`, JSON.stringify({ seq: i, mac }), { qos: 1 }))
      }
    }
    await Promise.all(sends)
    const records = await readRecords(raw, devices.length * perDevice)
    expect(records).toHaveLength(devices.length * perDevice)
    const byDevice = new Map<string, number[]>()
    for (const r of records) {
      const env = decodeEnvelope(r.value)
      expect(env.ok).toBe(true)
      if (!env.ok) continue
      const payload = env.value.payload as { seq: number, mac: string }
      expect(r.key).toBe(payload.mac)
      expect(env.value.device_id).toBe(payload.mac)
      const list = byDevice.get(payload.mac) ?? []
      list.push(payload.seq)
      byDevice.set(payload.mac, list)
    }
    for (const mac of devices) expect(byDevice.get(mac)).toEqual(Array.from({ length: perDevice }, (_, i) => i))
    await waitFor('forwarded count', () => connector.stage.stats().forwarded >= devices.length * perDevice)
  }, 60_000)

  it('forwards odd input raw and dead-letters what cannot be forwarded, and keeps running', async () => {
    const mac = macs[4] as string
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28])
    const oversize = Buffer.alloc(3000, 0x41)
    const inputs: Array<[string, Buffer | string]> = [
      [`tele/f2-${mac}/sensor-mode/J1/sensor-1`, 'not json {'],
      [`tele/f2-${mac}/sensor-mode/J1/sensor-1`, binary],
      [`tele/f2-${mac}/sensor-mode/J1/sensor-1`, ''],
      [`stat/f2-${mac}/alarm-mode/J9/beacon-7/extra/levels`, '{"status": true}'],
      [`${odd}/no/f2/shape`, '42'],
      [`tele/f2-${mac}/sensor-mode/J1/sensor-1`, oversize]
    ]
    for (const [topic, payload] of inputs) await publisher.publish(topic, payload, { qos: 1 })
    const all = await readRecords(raw, 1000 + 5)
    expect(all).toHaveLength(1005)
    const mine = all.filter(r => r.key === mac || r.key === `${odd}/no/f2/shape`)
    // One key, one partition: this device's messages arrive in the order they were published.
    const envs = mine.map(r => { const e = decodeEnvelope(r.value); if (!e.ok) throw new Error('bad envelope'); return e.value })
    const own = envs.filter(e => e.device_id === mac)
    expect(own).toHaveLength(4)
    expect(own[0]).toMatchObject({ payload_encoding: 'text', payload: 'not json {', device_id: mac })
    expect(own[1]).toMatchObject({ payload_encoding: 'base64', payload: binary.toString('base64') })
    expect(own[2]).toMatchObject({ payload_encoding: 'text', payload: '' })
    expect(own[3]).toMatchObject({ payload_encoding: 'json', device_id: mac, original_topic: `stat/f2-${mac}/alarm-mode/J9/beacon-7/extra/levels` })
    expect(envs.filter(e => e.device_id === null)).toMatchObject([{ payload_encoding: 'json', payload: 42, original_topic: `${odd}/no/f2/shape`, qos: 1, retain: false, schema_version: 1 }])
    const dead = await readRecords(dlq, 1)
    expect(dead).toHaveLength(1)
    const dl = decodeDeadLetter((dead[0] as { value: Buffer }).value)
    expect(dl.ok).toBe(true)
    if (!dl.ok) return
    expect(dl.value).toMatchObject({ reason: 'F2_PAYLOAD_TOO_LARGE', stage: 'connector', mqtt_topic: `tele/f2-${mac}/sensor-mode/J1/sensor-1` })
    expect(Buffer.from(dl.value.original_value, 'base64')).toEqual(oversize.subarray(0, 1024))
    expect(dl.value.details).toMatchObject({ truncated: true, original_bytes: 3000 })
    expect(dead[0]?.headers.get('reason')).toBe('F2_PAYLOAD_TOO_LARGE')
    expect(await connector.registry.getSingleMetricAsString('f2_connector_dead_letters_total')).toContain('reason="F2_PAYLOAD_TOO_LARGE",service="connector"} 1')
    // Still running: a normal message goes through afterwards.
    await publisher.publish(`tele/f2-${mac}/sensor-mode/J1/sensor-1`, '{"after":true}', { qos: 1 })
    expect(await readRecords(raw, 1006, { settleMs: 300 })).toHaveLength(1006)
    expect(connector.stage.readiness().ready).toBe(true)
  }, 60_000)
})
