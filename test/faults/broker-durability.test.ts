import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { stackPersistence, startPrivateMosquitto, type PrivateMosquitto } from '../helpers/private-mosquitto.ts'

/**
 * The broker keeps what it acknowledged: a Mosquitto with the stack's persistence settings
 * (stack/mosquitto/mosquitto.conf) is SIGKILLed while a publisher streams QoS 1 messages into
 * the persistent session of a subscriber that is offline (the connector down: everything
 * acknowledged sits in the broker's queue). After a restart on the same data, the subscriber's
 * session hands over every message whose PUBACK reached the publisher before the kill.
 * With the former `autosave_interval 30` this loses up to 30 s of acknowledged messages.
 */
const brokers: PrivateMosquitto[] = []
const clients: MqttClient[] = []
let dataDir: string | undefined

afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true).catch(() => {})
  for (const b of brokers.splice(0)) await b.stop()
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true })
  dataDir = undefined
})

const connect = async (url: string, clientId: string, clean: boolean): Promise<MqttClient> => {
  const c = await mqtt.connectAsync(url, {
    protocolVersion: 5, clientId, clean, reconnectPeriod: 0, connectTimeout: 5000,
    ...(clean ? {} : { properties: { sessionExpiryInterval: 3600 } })
  })
  clients.push(c)
  return c
}

describe('broker durability', () => {
  it('loses no acknowledged QoS 1 message when Mosquitto is killed with SIGKILL under load', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'f2-mqtt-data-'))
    const persistence = stackPersistence(dataDir)
    expect(persistence).toMatch(/^persistence true$/m)
    const first = await startPrivateMosquitto({ persistence })
    brokers.push(first)

    const sub = await connect(first.url, 'f2-durability-sub', false)
    await sub.subscribeAsync('f2-durability/#', { qos: 1 })
    await sub.endAsync()

    const pub = await connect(first.url, 'f2-durability-pub', true)
    pub.on('error', () => {})
    const acked = new Set<number>()
    let killed = false
    let next = 0
    const window = 50
    const inFlight = new Set<Promise<void>>()
    const started = Date.now()
    // A steady stream (≈ 1 000 messages/s at most, 50 in flight), killed in mid-stream after 3 s.
    while (!killed) {
      if (Date.now() - started >= 3000) {
        process.kill(first.pid, 'SIGKILL')
        killed = true
        break
      }
      if (inFlight.size >= window || next >= (Date.now() - started)) { await sleep(2); continue }
      const id = next++
      const p: Promise<void> = pub.publishAsync(`f2-durability/${id % 10}`, JSON.stringify({ id }), { qos: 1 })
        .then(() => { if (!killed) acked.add(id) }, () => {})
        .finally(() => inFlight.delete(p))
      inFlight.add(p)
    }
    const ackedAtKill = new Set(acked)
    pub.end(true)
    await first.stop()
    // Every save rewrites the whole queue, so acknowledgements slow down as the offline
    // session's queue grows (docs/operations/benchmark.md, "Broker durability"); a few
    // hundred acknowledged messages are plenty to catch a lost one.
    expect(ackedAtKill.size).toBeGreaterThan(200)

    const second = await startPrivateMosquitto({ port: first.port, persistence })
    brokers.push(second)
    const received = new Set<number>()
    // Listening before the connection: the restored queue may arrive with the CONNACK.
    const back = mqtt.connect(second.url, { protocolVersion: 5, clientId: 'f2-durability-sub', clean: false, reconnectPeriod: 0, properties: { sessionExpiryInterval: 3600 } })
    clients.push(back)
    back.on('message', (_topic, payload) => { received.add((JSON.parse(payload.toString()) as { id: number }).id) })
    await once(back as unknown as NodeJS.EventEmitter, 'connect')
    // The restored session delivers its queue at once; stop once nothing new arrives for 2 s.
    let last = -1
    for (let quiet = 0; quiet < 10;) {
      await sleep(200)
      if (received.size === last) quiet++
      else { quiet = 0; last = received.size }
    }
    const missing = [...ackedAtKill].filter(id => !received.has(id))
    expect({ acknowledged: ackedAtKill.size, missing: missing.length, firstMissing: missing.slice(0, 10) })
      .toEqual({ acknowledged: ackedAtKill.size, missing: 0, firstMissing: [] })
  }, 60_000)
})
