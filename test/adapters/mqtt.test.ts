import { Store, type IStore, type Packet } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { createMqttClient, type InboundMessage, type MqttHandle } from '../../src/adapters/mqtt.ts'
import { auth } from '../../harness/mqtt-account.ts'
import { stackEnv, uniqueName } from '../../harness/stack.ts'

const opened: MqttHandle[] = []
afterEach(async () => { for (const c of opened.splice(0)) await c.close(true).catch(() => {}) })

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

function consumer (clientId: string, filter: string, received: InboundMessage[], receiveMaximum = 5): MqttHandle {
  const c = createMqttClient({
    url: stackEnv().mqttUrl, ...auth(), clientId, clean: false, sessionExpirySeconds: 60, receiveMaximum, manualAck: true,
    subscriptions: [{ filter, qos: 1 }], onMessage: m => received.push(m)
  })
  opened.push(c)
  return c
}

describe('MQTT adapter, manual acknowledgement (real broker)', () => {
  it('withholds the PUBACK until ack(), bounds in-flight by receiveMaximum, and gets unacknowledged messages redelivered', async () => {
    const clientId = uniqueName('manual-ack')
    const topic = `${uniqueName('ack')}/x`
    const first: InboundMessage[] = []
    const a = consumer(clientId, topic, first)
    await a.waitConnected()
    await sleep(200)
    const pub = createMqttClient({ url: stackEnv().mqttUrl, ...auth(), clientId: uniqueName('pub') })
    opened.push(pub)
    await pub.waitConnected()
    for (let i = 0; i < 10; i++) await pub.publish(topic, String(i), { qos: 1 })
    await sleep(500)
    // The broker stops at Receive Maximum: nothing was acknowledged yet.
    expect(first.map(m => m.payload.toString())).toEqual(['0', '1', '2', '3', '4'])
    first[0]?.ack()
    first[1]?.ack()
    first[1]?.ack() // idempotent
    await sleep(500)
    expect(first.map(m => m.payload.toString())).toEqual(['0', '1', '2', '3', '4', '5', '6'])

    // Drop the connection without acknowledging 2..6: the session keeps them.
    await a.close(true)
    const second: InboundMessage[] = []
    const b = consumer(clientId, topic, second, 100)
    await b.waitConnected()
    await sleep(700)
    const payloads = second.map(m => m.payload.toString())
    expect(payloads).toEqual(['2', '3', '4', '5', '6', '7', '8', '9'])
    expect(second.slice(0, 5).every(m => m.dup)).toBe(true)
    // Late acks from the dead connection must not be sent on the new one.
    for (const m of first) m.ack()
    expect(a.stats().staleAcks).toBe(first.length - 2)
    expect(first.every(m => m.stale())).toBe(true)
    for (const m of second) m.ack()
    await sleep(300)
    await b.close()

    const third: InboundMessage[] = []
    const c = consumer(clientId, topic, third)
    await c.waitConnected()
    await sleep(700)
    expect(third).toHaveLength(0)
    await c.client.endAsync({ properties: { sessionExpiryInterval: 0 } } as never).catch(() => {})
  }, 30_000)

  it('reconnects with backoff after the connection drops and resubscribes', async () => {
    const topic = `${uniqueName('re')}/x`
    const got: InboundMessage[] = []
    let connects = 0
    const c = createMqttClient({
      url: stackEnv().mqttUrl, ...auth(), clientId: uniqueName('re'), reconnectMinMs: 50, reconnectMaxMs: 200,
      subscriptions: [{ filter: topic, qos: 1 }], onMessage: m => got.push(m), onConnect: () => { connects++ }
    })
    opened.push(c)
    await c.waitConnected()
    c.client.stream.destroy()
    await sleep(1000)
    expect(c.connected()).toBe(true)
    expect(c.stats().reconnects).toBe(1)
    expect(connects).toBe(2)
    const pub = createMqttClient({ url: stackEnv().mqttUrl, ...auth(), clientId: uniqueName('pub') })
    opened.push(pub)
    await pub.waitConnected()
    await pub.publish(topic, 'after', { qos: 1 })
    await sleep(300)
    expect(got.map(m => m.payload.toString())).toEqual(['after'])
  }, 20_000)
})

describe('MQTT adapter, outgoing store (real broker)', () => {
  /** MQTT.js's in-memory store, with what it was asked and a put that refuses chosen payloads. */
  function recordingStore (refuse: (p: Packet) => boolean): IStore & { calls: string[] } {
    const inner = new Store()
    const calls: string[] = []
    const store: IStore & { calls: string[] } = {
      calls,
      put (packet, cb) {
        calls.push(`put ${packet.cmd}`)
        if (refuse(packet)) cb(new Error('refused by the store'))
        else inner.put(packet, cb)
        return store
      },
      del (packet, cb) { calls.push('del'); inner.del(packet, cb); return store },
      get (packet, cb) { inner.get(packet, cb); return store },
      createStream: () => { calls.push('stream'); return inner.createStream() },
      close: cb => { inner.close(cb) }
    }
    return store
  }

  it('fails a publish whose PUBLISH the store refuses (never written), frees its identifier, and keeps the store across reconnections', async () => {
    const topic = `${uniqueName('store')}/x`
    const got: string[] = []
    const sub = createMqttClient({ url: stackEnv().mqttUrl, ...auth(), clientId: uniqueName('sub'), subscriptions: [{ filter: topic, qos: 1 }], onMessage: m => got.push(m.payload.toString()) })
    opened.push(sub)
    await sub.waitConnected()
    await sleep(200)
    const store = recordingStore(p => p.cmd === 'publish' && String(p.payload) === 'refused')
    const c = createMqttClient({ url: stackEnv().mqttUrl, ...auth(), clientId: uniqueName('store'), reconnectMinMs: 50, reconnectMaxMs: 200, outgoingStore: store })
    opened.push(c)
    await c.waitConnected()
    await expect(c.client.publishAsync(topic, 'refused', { qos: 2 })).rejects.toThrow('refused by the store')
    expect(Object.keys(c.client.outgoing)).toEqual([])
    await c.client.publishAsync(topic, 'stored', { qos: 2 })
    expect(store.calls.filter(x => x !== 'stream')).toEqual(['put publish', 'put publish', 'put pubrel', 'del'])
    c.client.stream.destroy()
    await sleep(1000)
    expect(c.connected()).toBe(true)
    // The same store is read again at the new CONNACK (MQTT.js would otherwise take a new in-memory one).
    expect(store.calls.filter(x => x === 'stream')).toHaveLength(2)
    await c.client.publishAsync(topic, 'after', { qos: 2 })
    expect(store.calls.slice(-3)).toEqual(['put publish', 'put pubrel', 'del'])
    await sleep(300)
    expect(got).toEqual(['stored', 'after'])
  }, 20_000)
})
