import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../../src/adapters/logger.ts'
import { createMqttClient, type MqttHandle } from '../../../src/adapters/mqtt.ts'
import { createRng } from '../../../src/core/random.ts'
import type { ApiService } from '../../../src/stages/api/service.ts'
import { loadDispatcherConfig } from '../../../src/stages/dispatcher/config.ts'
import { createDispatcher } from '../../../src/stages/dispatcher/service.ts'
import { DispatcherStore } from '../../../src/stages/dispatcher/store.ts'
import { handleCommand } from '../../../src/stages/simulator/commands.ts'
import { createDeviceState } from '../../../src/stages/simulator/device.ts'
import { auth } from '../../../harness/mqtt-account.ts'
import { createTempTopics, stackEnv, uniqueName, uniqueTopicName, type TempTopics } from '../../../harness/stack.ts'
import { migratedDatabase, type MigratedDatabase } from '../../storage/helpers.ts'
import { insertToken, startApi } from '../api/harness.ts'
import { waitForValue } from '../../../harness/wait.ts'
import { dispatcherClientId, dispatcherTestEnv } from './env.ts'

/**
 * The command path on the real servers: API → Kafka (device_commands, keyed by MAC) →
 * dispatcher → MQTT QoS 2 (through its outbox) → a controller that obeys as the simulator does → its reply →
 * confirmed; a controller that is not there → expired; each command published once.
 * The dispatcher runs as its own database role; the broker account is the tests' own (the
 * dispatcher's account rights are checked in test/broker/access.test.ts).
 */
let registry: MigratedDatabase
let timeseries: MigratedDatabase
let topics: TempTopics
let api: { service: ApiService, base: string }
let dispatcher: ReturnType<typeof createDispatcher>
let controller: MqttHandle
let token: string
let dispatcherEnv: Record<string, string>
const received: Array<{ topic: string, payload: string }> = []

const suffix = uniqueName('d').slice(-8).replace(/[^0-9a-f]/g, '0')
const MAC = `f2c0${suffix}`.slice(0, 12) // the connected controller
const ABSENT = `f2c1${suffix}`.slice(0, 12) // registered, never connected

beforeAll(async () => {
  registry = await migratedDatabase('registry')
  timeseries = await migratedDatabase('timeseries')
  for (const mac of [MAC, ABSENT]) {
    const [d] = await registry.sql<Array<{ id: number }>>`INSERT INTO "Device" ("DeviceName", "MacAddress") VALUES (${mac}, ${mac}) RETURNING "DeviceId" AS id`
    for (const [number, mode] of [[1, 'access-control-mode'], [2, 'alarm-mode']] as const) {
      const [c] = await registry.sql<Array<{ id: number }>>`INSERT INTO "Connector" ("ControllerId", "ConnectorNumber", "Mode") VALUES (${d?.id ?? 0}, ${number}, ${mode}) RETURNING "ConnectorId" AS id`
      await registry.sql`INSERT INTO "Pin" ("ConnectorId", "Position") VALUES (${c?.id ?? 0}, 1), (${c?.id ?? 0}, 2)`
    }
  }
  token = await insertToken(registry.sql, 'c0ffee0000d1', 'D'.repeat(43), ['read', 'command'])
  topics = await createTempTopics([uniqueTopicName('device_commands')], 2)
  const topic = topics.names[0] as string

  // A controller that obeys as the simulator does.
  const state = createDeviceState({ mac: MAC, name: 'door', connectors: [{ number: 1, mode: 'access-control-mode', sensors: [] }, { number: 2, mode: 'alarm-mode', sensors: [] }] }, createRng(1))
  controller = createMqttClient({
    url: stackEnv().mqttUrl,
    clientId: `f2-${MAC}`,
    ...auth(),
    subscriptions: [{ filter: `cmnd/f2-${MAC}/#`, qos: 1 }],
    onMessage: m => {
      const payload = m.payload.toString('utf8')
      received.push({ topic: m.topic, payload })
      const out = handleCommand(state, m.topic, payload, () => '2026-01-01 00:00:00.000001')
      for (const r of out.replies) void controller.publish(r.topic, r.payload, { qos: 1 })
    }
  })
  await controller.waitConnected(10_000)

  dispatcherEnv = { ...dispatcherTestEnv(registry.url, topic), HTTP_PORT: '0' }
  dispatcher = createDispatcher(loadDispatcherConfig(dispatcherEnv), createLogger('dispatcher', 'silent'))
  await dispatcher.start()
  api = await startApi(registry.url, timeseries.url, { KAFKA_COMMAND_TOPIC: topic })
}, 60_000)

afterAll(async () => {
  await api?.service.stop(2000)
  await dispatcher?.stop(5000)
  await controller?.close()
  await topics?.delete()
  await timeseries?.drop()
  await registry?.drop()
})

async function send (mac: string, body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${api.base}/api/devices/${mac}/commands`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body)
  })
  expect(res.status).toBe(202)
  return ((await res.json()) as { command_id: string }).command_id
}

async function settled (id: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  return (await waitForValue(`command ${id} final`, async () => {
    const res = await fetch(`${api.base}/api/commands/${id}`, { headers: { authorization: `Bearer ${token}` } })
    const c = (await res.json()) as Record<string, unknown>
    return ['confirmed', 'failed', 'expired'].includes(String(c.state)) ? c : undefined
  }, timeoutMs, 50)).value
}

describe('dispatcher', () => {
  it.each([
    [{ kind: 'strike', connector: 1, position: 1, action: 'power' }, 1],
    [{ kind: 'strike', connector: 1, position: 2, action: 'toggle', period: 1 }, 1],
    [{ kind: 'siren', connector: 2, position: 1, state: 'on' }, 2],
    [{ kind: 'reader-feedback', connector: 1, position: 1, signal: 'fail2' }, 1],
    [{ kind: 'status', connector: 2, position: 2, component: 'siren' }, 1]
  ])('%j is published once and confirmed by the controller\'s reply', async (body, messages) => {
    const before = received.length
    const id = await send(MAC, body)
    const c = await settled(id)
    expect(c.state).toBe('confirmed')
    expect((c.events as Array<{ state: string }>).map(e => e.state)).toEqual(['accepted', 'sent', 'confirmed'])
    expect(c.reply).toMatchObject({ topic: expect.stringMatching(new RegExp(`^(stat|tele)/f2-${MAC}/`)) })
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(received.length - before).toBe(messages)
  })

  it('expires a command to a controller that is not connected, without confirming it', async () => {
    const id = await send(ABSENT, { kind: 'strike', connector: 1, position: 1, action: 'power', ttl_s: 1 })
    const c = await settled(id)
    expect([c.state, c.confirmed_at, (c.events as Array<{ state: string }>).map(e => e.state)]).toEqual(['expired', null, ['accepted', 'sent', 'expired']])
  })

  it('delivers a command to a controller that returns within the TTL, and not one whose TTL passed while it was away', async () => {
    const mac = `f2c2${suffix}`.slice(0, 12)
    const [d] = await registry.sql<Array<{ id: number }>>`INSERT INTO "Device" ("DeviceName", "MacAddress") VALUES (${mac}, ${mac}) RETURNING "DeviceId" AS id`
    const [c] = await registry.sql<Array<{ id: number }>>`INSERT INTO "Connector" ("ControllerId", "ConnectorNumber", "Mode") VALUES (${d?.id ?? 0}, 1, 'access-control-mode') RETURNING "ConnectorId" AS id`
    await registry.sql`INSERT INTO "Pin" ("ConnectorId", "Position") VALUES (${c?.id ?? 0}, 1)`
    const state = createDeviceState({ mac, name: 'away', connectors: [{ number: 1, mode: 'access-control-mode', sensors: [] }] }, createRng(2))
    const got: string[] = []
    // A controller with a persistent session (clean: false), as the F2 firmware keeps one.
    const connectController = async (): Promise<MqttHandle> => {
      const h: MqttHandle = createMqttClient({
        url: stackEnv().mqttUrl,
        clientId: `f2-${mac}`,
        ...auth(),
        clean: false,
        sessionExpirySeconds: 300,
        subscriptions: [{ filter: `cmnd/f2-${mac}/#`, qos: 1 }],
        onMessage: m => {
          const payload = m.payload.toString('utf8')
          got.push(payload)
          for (const r of handleCommand(state, m.topic, payload, () => '2026-01-01 00:00:00.000001').replies) void h.publish(r.topic, r.payload, { qos: 1 })
        }
      })
      await h.waitConnected(10_000)
      return h
    }
    await (await connectController()).close()
    const late = await send(mac, { kind: 'strike', connector: 1, position: 1, action: 'unpower', ttl_s: 1 })
    const soon = await send(mac, { kind: 'strike', connector: 1, position: 1, action: 'power', ttl_s: 60 })
    await waitForValue('both sent', async () => (await registry.sql`SELECT 1 FROM device_commands WHERE command_id IN (${late}::uuid, ${soon}::uuid) AND state <> 'accepted'`).length === 2 ? true : undefined, 10_000, 50)
    await new Promise(resolve => setTimeout(resolve, 2000))
    const back = await connectController()
    try {
      expect((await settled(soon)).state).toBe('confirmed')
      expect((await settled(late)).state).toBe('expired')
      await new Promise(resolve => setTimeout(resolve, 300))
      // The expired command's message was dropped by the broker: only the live one arrived.
      expect(got).toEqual(['{"power-flag":1}'])
    } finally {
      await back.close()
    }
  })

  it('claims a command once: a second claim (another dispatcher, a restart) gets nothing once its publication is recorded', async () => {
    const id = await send(ABSENT, { kind: 'status', connector: 1, position: 1, component: 'strike', ttl_s: 60 })
    await waitForValue('sent and acknowledged by the broker', async () => (await registry.sql`SELECT 1 FROM device_commands WHERE command_id = ${id}::uuid AND state = 'sent' AND published_at IS NOT NULL`).length > 0 ? true : undefined, 10_000, 50)
    expect(await new DispatcherStore(registry.sql).claim(id)).toBeUndefined()
  })

  it('publishes each command once when the dispatcher is replaced mid-stream', async () => {
    const before = received.length
    const periods = Array.from({ length: 20 }, (_, i) => i + 1)
    const sending = Promise.all(periods.map(async period => await send(MAC, { kind: 'strike', connector: 1, position: 2, action: 'toggle', period, ttl_s: 5 })))
    await waitForValue('a first command published', async () => received.length > before ? true : undefined, 10_000, 5)
    await dispatcher.stop(5000)
    dispatcher = createDispatcher(loadDispatcherConfig({ ...dispatcherEnv, DISPATCHER_CLIENT_ID: dispatcherClientId() }), createLogger('dispatcher', 'silent'))
    await dispatcher.start()
    const ids = await sending
    const final = await Promise.all(ids.map(async id => await settled(id)))
    expect(final.every(c => c.state === 'confirmed' || c.state === 'expired')).toBe(true)
    const published = received.slice(before).map(r => (JSON.parse(r.payload) as { period: number }).period).sort((a, b) => a - b)
    expect(published).toEqual(periods)
  })
})
