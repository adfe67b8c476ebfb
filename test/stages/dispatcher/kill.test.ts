import { spawn, type ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { IStore } from 'mqtt'
import { createMqttClient, type MqttHandle } from '../../../src/adapters/mqtt.ts'
import { publications, TTL_LIMITS, parseCommandRequest } from '../../../src/core/command.ts'
import { createRng } from '../../../src/core/random.ts'
import { connect } from '../../../src/storage/connection.ts'
import { CommandOutbox } from '../../../src/stages/dispatcher/outbox.ts'
import { linkProperties } from '../../../src/stages/dispatcher/outbox-packet.ts'
import { DispatcherStore } from '../../../src/stages/dispatcher/store.ts'
import { handleCommand } from '../../../src/stages/simulator/commands.ts'
import { createDeviceState } from '../../../src/stages/simulator/device.ts'
import { freePort } from '../../../src/stack/ports.ts'
import { auth } from '../../../harness/mqtt-account.ts'
import { createTempTopics, roleUrl, stackEnv, uniqueName, uniqueTopicName, type TempTopics } from '../../../harness/stack.ts'
import { waitForValue } from '../../../harness/wait.ts'
import { dispatcherTestEnv } from './env.ts'
import { migratedDatabase, type MigratedDatabase } from '../../storage/helpers.ts'
import type { ApiService } from '../../../src/stages/api/service.ts'
import { insertToken, startApi } from '../api/harness.ts'

/**
 * The dispatcher as its own process, SIGKILLed while commands stream in and started again
 * (as the supervisor or compose would): no command is lost, each is confirmed by a controller
 * that obeys as the simulator does, and each reaches the controller exactly once (QoS 2
 * through the outbox, the broker's persistent session). Each command is a strike toggle with a
 * period of its own, so every MQTT message names its command. The windows a random kill may
 * miss are also stopped in on purpose: claimed but not stored, stored but not written, and
 * held by the broker (PUBREC) but not recorded.
 */
let registry: MigratedDatabase
let timeseries: MigratedDatabase
let topics: TempTopics
let api: { service: ApiService, base: string }
let controller: MqttHandle
let token: string
let env: Record<string, string>
let child: ChildProcess | undefined
let readyUrl: string
let output = ''
const received: number[] = []

const suffix = uniqueName('k').slice(-8).replace(/[^0-9a-f]/g, '0')
const MAC = `f2c3${suffix}`.slice(0, 12)

beforeAll(async () => {
  registry = await migratedDatabase('registry')
  timeseries = await migratedDatabase('timeseries')
  const [d] = await registry.sql<Array<{ id: number }>>`INSERT INTO "Device" ("DeviceName", "MacAddress") VALUES (${MAC}, ${MAC}) RETURNING "DeviceId" AS id`
  const [c] = await registry.sql<Array<{ id: number }>>`INSERT INTO "Connector" ("ControllerId", "ConnectorNumber", "Mode") VALUES (${d?.id ?? 0}, 1, 'access-control-mode') RETURNING "ConnectorId" AS id`
  await registry.sql`INSERT INTO "Pin" ("ConnectorId", "Position") VALUES (${c?.id ?? 0}, 1)`
  token = await insertToken(registry.sql, 'c0ffee0000d2', 'K'.repeat(43), ['read', 'command'])
  topics = await createTempTopics([uniqueTopicName('device_commands')], 2)
  const topic = topics.names[0] as string

  const state = createDeviceState({ mac: MAC, name: 'door', connectors: [{ number: 1, mode: 'access-control-mode', sensors: [] }] }, createRng(3))
  controller = createMqttClient({
    url: stackEnv().mqttUrl,
    clientId: `f2-${MAC}`,
    ...auth(),
    subscriptions: [{ filter: `cmnd/f2-${MAC}/#`, qos: 1 }],
    onMessage: m => {
      const payload = m.payload.toString('utf8')
      received.push((JSON.parse(payload) as { period: number }).period)
      // The first reply at once; the second (after the period) is no confirmation and not awaited.
      const out = handleCommand(state, m.topic, payload, () => '2026-01-01 00:00:00.000001')
      for (const r of out.replies) void controller.publish(r.topic, r.payload, { qos: 1 })
    }
  })
  await controller.waitConnected(10_000)

  const port = await freePort()
  readyUrl = `http://127.0.0.1:${port}/readyz`
  // The same client id after every restart (one env for all of them): its persistent session keeps the replies.
  env = { ...dispatcherTestEnv(registry.url, topic), HTTP_PORT: String(port), LOG_LEVEL: 'info' }
  api = await startApi(registry.url, timeseries.url, { KAFKA_COMMAND_TOPIC: topic })
}, 60_000)

afterAll(async () => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise(resolve => child?.once('exit', resolve))
    child.kill('SIGTERM')
    await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 8000))])
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  await api?.service.stop(2000)
  await controller?.close()
  await topics?.delete()
  await timeseries?.drop()
  await registry?.drop()
})

/** Starts the dispatcher process and waits until it is ready (connected, consuming). */
async function startDispatcher (): Promise<ChildProcess> {
  const p = spawn(process.execPath, ['src/cli.ts', 'dispatcher'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  p.stdout?.on('data', (d: Buffer) => { output = (output + d.toString()).slice(-20_000) })
  p.stderr?.on('data', (d: Buffer) => { output = (output + d.toString()).slice(-20_000) })
  child = p
  await waitForValue('the dispatcher ready', async () => {
    if (p.exitCode !== null) throw new Error(`dispatcher exited with ${p.exitCode}\n${output.slice(-3000)}`)
    return await fetch(readyUrl).then(r => r.ok ? true : undefined, () => undefined)
  }, 30_000, 100)
  return p
}

/** SIGKILL: no stop, no DISCONNECT, nothing flushed. */
async function killDispatcher (): Promise<void> {
  const p = child
  if (p === undefined) return
  const exited = new Promise(resolve => p.once('exit', resolve))
  p.kill('SIGKILL')
  await exited
}

/**
 * What a dispatcher killed mid-publication leaves behind, made on purpose: the command's
 * message stored in the outbox under the dispatcher's client id and then, with MQTT.js and
 * that client id's persistent session, taken up to `stop`: `write` (never on the socket),
 * `pubrel` (the broker sent PUBREC; recording it never finished) or `del` (PUBCOMP arrived;
 * recording it never finished). The connection is then dropped without DISCONNECT.
 */
async function publishUntil (id: string, stop: 'write' | 'pubrel' | 'del'): Promise<void> {
  const sql = connect(roleUrl('registry', 'dispatcher', new URL(registry.url).pathname.slice(1)), { max: 1 })
  try {
    const outbox = new CommandOutbox(sql, env.DISPATCHER_CLIENT_ID as string)
    const [row] = await registry.sql<Array<{ request: unknown }>>`SELECT request FROM device_commands WHERE command_id = ${id}::uuid`
    const messages = publications(MAC, parseCommandRequest(row?.request).spec)
    const p = messages[0] as (typeof messages)[number]
    const properties = { messageExpiryInterval: 300, userProperties: linkProperties({ commandId: id, publication: 0, publications: messages.length }) }
    if (stop === 'write') {
      await new Promise<void>((resolve, reject) => {
        outbox.put({ cmd: 'publish', qos: 2, dup: false, retain: false, messageId: 4242, topic: p.topic, payload: Buffer.from(p.payload), properties }, err => { if (err === undefined || err === null) resolve(); else reject(err) })
      })
      return
    }
    let reached: () => void = () => {}
    const stalled = new Promise<void>(resolve => { reached = resolve })
    // The step at `stop` never answers: the process died there.
    const store: IStore = {
      put (packet, cb) { if (stop === 'pubrel' && packet.cmd === 'pubrel') reached(); else outbox.put(packet, cb); return store },
      del (packet, cb) { if (stop === 'del') reached(); else outbox.del(packet, cb); return store },
      get (packet, cb) { outbox.get(packet, cb); return store },
      createStream: () => outbox.createStream(),
      close: cb => { outbox.close(cb) }
    }
    // The dispatcher's session: manual acknowledgement, never given, so the replies it holds stay for the dispatcher.
    const h = createMqttClient({ url: stackEnv().mqttUrl, clientId: env.DISPATCHER_CLIENT_ID as string, ...auth(), clean: false, sessionExpirySeconds: TTL_LIMITS.max, manualAck: true, outgoingStore: store })
    await h.waitConnected(10_000)
    h.client.publish(p.topic, p.payload, { qos: 2, properties })
    await stalled
    await h.close(true)
  } finally {
    await sql.end({ timeout: 2 })
  }
}

async function send (body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${api.base}/api/devices/${MAC}/commands`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body)
  })
  expect(res.status).toBe(202)
  return ((await res.json()) as { command_id: string }).command_id
}

async function settled (id: string, timeoutMs: number): Promise<Record<string, unknown>> {
  return (await waitForValue(`command ${id} final`, async () => {
    const res = await fetch(`${api.base}/api/commands/${id}`, { headers: { authorization: `Bearer ${token}` } })
    const c = (await res.json()) as Record<string, unknown>
    return ['confirmed', 'failed', 'expired'].includes(String(c.state)) ? c : undefined
  }, timeoutMs, 100)).value
}

const toggle = (period: number): Record<string, unknown> => ({ kind: 'strike', connector: 1, position: 1, action: 'toggle', period, ttl_s: 300 })

describe('dispatcher under kill -9', () => {
  it('loses no command and confirms each while it is SIGKILLed and restarted mid-stream', async () => {
    await startDispatcher()
    const periods = Array.from({ length: 60 }, (_, i) => i + 1)
    const ids: string[] = []
    // In bursts, so that a batch holds several commands: a kill lands while the first of
    // them are published and the batch is not committed yet (it is read again after the restart).
    const sending = (async () => {
      for (let i = 0; i < periods.length; i += 6) {
        ids.push(...await Promise.all(periods.slice(i, i + 6).map(async period => await send(toggle(period)))))
        await new Promise(resolve => setTimeout(resolve, 150))
      }
    })()
    const kills = 5
    for (let k = 0; k < kills; k++) {
      // Killed while it works: after it has published something since it (re)started, a few
      // milliseconds later each time, to land in different steps of the QoS 2 flow.
      const seen = received.length
      await waitForValue('a publication since the last start', async () => received.length > seen ? true : undefined, 30_000, 5)
      await new Promise(resolve => setTimeout(resolve, k * 4))
      await killDispatcher()
      // Commands keep arriving while it is down.
      await new Promise(resolve => setTimeout(resolve, 300))
      await startDispatcher()
    }
    await sending

    const final = await Promise.all(ids.map(async id => await settled(id, 90_000)))
    expect(final.map(c => c.state), output.slice(-3000)).toEqual(ids.map(() => 'confirmed'))
    for (const c of final) expect((c.events as Array<{ state: string }>).map(e => e.state)).toEqual(['accepted', 'sent', 'confirmed'])
    // Every command reached the controller exactly once.
    await new Promise(resolve => setTimeout(resolve, 500))
    expect([...received].sort((a, b) => a - b)).toEqual(periods)
    // Nothing left unfinished in the outbox, and every command recorded as published.
    expect(await registry.sql`SELECT command_id FROM command_outbox WHERE completed_at IS NULL`).toEqual([])
    expect((await registry.sql`SELECT count(*)::int AS n FROM device_commands WHERE published_at IS NOT NULL`)[0]?.n).toBe(periods.length)
  }, 300_000)

  it('publishes a command whose dispatcher was killed between its claim and storing its message', async () => {
    await killDispatcher()
    const before = received.length
    const id = await send(toggle(200))
    // What the killed dispatcher left behind: the command claimed (sent), nothing in the outbox.
    const claimed = await new DispatcherStore(registry.sql).claim(id)
    expect(claimed).toMatchObject({ id, mac: MAC, resumed: false, pending: [0] })
    await startDispatcher()
    const c = await settled(id, 30_000)
    expect(c.state).toBe('confirmed')
    expect((c.events as Array<{ state: string }>).map(e => e.state)).toEqual(['accepted', 'sent', 'confirmed'])
    expect(received.slice(before)).toEqual([200])
    // Once recorded, it is never claimed again.
    expect(await new DispatcherStore(registry.sql).claim(id)).toBeUndefined()
  }, 60_000)

  it.each([
    ['stored in the outbox, never written to the broker', 'write', 210],
    ['held by the broker (PUBREC), its receipt not recorded', 'pubrel', 211],
    ['released by the broker (PUBCOMP), its completion not recorded', 'del', 212]
  ] as const)('delivers once a command whose dispatcher was killed with its message %s', async (_, stop, period) => {
    await killDispatcher()
    const before = received.length
    const id = await send(toggle(period))
    expect(await new DispatcherStore(registry.sql).claim(id)).toMatchObject({ id, resumed: false, pending: [0] })
    await publishUntil(id, stop)
    // Released: the controller has it already (and the dispatcher's session holds its reply).
    if (stop === 'del') await waitForValue('delivered before the kill', async () => received.length > before ? true : undefined, 10_000, 5)
    await startDispatcher()
    const c = await settled(id, 30_000)
    expect(c.state).toBe('confirmed')
    await new Promise(resolve => setTimeout(resolve, 500))
    expect(received.slice(before)).toEqual([period])
    expect(await registry.sql`SELECT cmd, completed_at IS NOT NULL AS completed FROM command_outbox WHERE command_id = ${id}::uuid`).toEqual([{ cmd: 'pubrel', completed: true }])
    expect(c.published_at).not.toBeNull()
  }, 60_000)

  it('confirms a command whose reply arrived while the dispatcher was down', async () => {
    const before = received.length
    const id = await send(toggle(201))
    await waitForValue('published', async () => received.length > before ? true : undefined, 30_000, 5)
    // The reply follows within milliseconds; the dispatcher dies before it can store it, or
    // just after: the persistent session hands it over after the restart either way.
    await killDispatcher()
    await new Promise(resolve => setTimeout(resolve, 500))
    await startDispatcher()
    expect((await settled(id, 30_000)).state).toBe('confirmed')
  }, 60_000)
})
