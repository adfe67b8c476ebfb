/**
 * The benchmark's load generator, run as a child process (forked, with an IPC channel) so its
 * CPU is measured apart from the pipeline's. Traffic comes from the simulator's device model
 * (src/stages/simulator: fleet, sensor frames, events, F2 timestamps); this file only paces it
 * and writes down what the broker acknowledged. Every controller has its own connection and
 * account, over TLS unless `access.transport` is plain, as the simulator's (the broker lets a
 * controller publish on its own topics only); so do the unregistered controllers it plays.
 *
 * Every message acknowledged by the broker (QoS 1 PUBACK) is appended to `expectedFile` as
 * `topic \t device timestamp (UTC) \t rows expected \t dead-letter reason or -`, which is what
 * the accounting compares the database and the dead-letter topic against.
 *
 * Options arrive as one JSON argument (LoadOptions). IPC in: `{ credit }` (total messages the
 * parent allows so far; -1 = unlimited), `{ stop: true }`. IPC out: `progress` twice a second,
 * `done` at the end.
 */
import { createWriteStream } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { createMqttClient, type MqttHandle } from '../src/adapters/mqtt.ts'
import { formatF2Timestamp } from '../src/core/timestamp.ts'
import { createDeviceState, eventMessage, nextMessage, sensorMessage, type DeviceState, type OutMessage } from '../src/stages/simulator/device.ts'
import { createRng } from '../src/core/random.ts'
import { generateFleet, type SimController } from '../src/stages/simulator/fleet.ts'
import { prepareAccess, type AccessSettings } from '../src/stages/simulator/access.ts'
import { createLogger } from '../src/adapters/logger.ts'
import { extractMac } from '../src/core/topic.ts'

export type Mix = 'sim' | 'sensor' | 'events'

const PUBLISH_TIMEOUT_MS = 10_000

export interface LoadOptions {
  /** How the controllers reach the broker (their accounts are given as the admin). */
  access: AccessSettings
  devices: number
  seed: number
  /** Messages per second; 0 = as fast as the in-flight windows (and the parent's credit) allow. */
  rate: number
  durationS: number
  /** Stop after this many messages (0 = no limit). */
  count: number
  /** Unacknowledged publishes per controller connection. */
  windowPerConnection: number
  mix: Mix
  /** Share of messages sent as sensor readings of unregistered controllers (expected dead letters). */
  unknownFraction: number
  expectedFile: string
  clientPrefix: string
}

export interface LoadProgress { type: 'progress' | 'done', sent: number, acked: number, retried: number, seconds: number, unconfirmed: number }

/** Rows a message of the fleet produces: its template's data points, or the component's readings. */
export function rowsOf (fleet: Map<string, SimController>, topic: string): number {
  const [, dev = '', , conn = '', component = ''] = topic.split('/')
  if (component === 'door-sensors' || component === 'exit-buttons') return 2
  if (component.startsWith('motion-sensor') || component.startsWith('reader')) return 1
  const controller = fleet.get(dev.slice(3))
  const connector = controller?.connectors.find(c => `J${c.number}` === conn)
  const sensor = connector?.sensors.find(s => `sensor-${s.pin}` === component)
  return sensor?.dataPoints.length ?? 0
}

/** An unregistered controller's MAC (the fleet's prefix is f2f2). */
export const UNKNOWN_MACS = 16
export const unknownMac = (i: number): string => `badd${(i % UNKNOWN_MACS).toString(16).padStart(8, '0')}`

async function main (): Promise<void> {
  const o = JSON.parse(process.argv[2] ?? '{}') as LoadOptions
  const fleet = generateFleet(o.devices, o.seed)
  const byMac = new Map(fleet.map(c => [c.mac, c]))
  const rng = createRng(o.seed ^ 0x5f2)
  const states: DeviceState[] = fleet.map(c => createDeviceState(c, rng))
  const out = createWriteStream(o.expectedFile)
  let lastMicros = 0
  let lastStamp = ''
  const stamp = (): string => {
    lastMicros = Math.max(Math.round(performance.timeOrigin * 1000 + performance.now() * 1000), lastMicros + 1)
    lastStamp = formatF2Timestamp(lastMicros / 1000, 'UTC')
    return lastStamp
  }
  let cursor = 0
  const sensorsOf = states.map(s => s.controller.connectors.flatMap(c => c.sensors.map(x => [c, x] as const)))
  const eventfulOf = states.map(s => s.controller.connectors.filter(c => c.mode !== 'sensor-mode'))
  let unknown = 0
  const next = (): { m: OutMessage, ts: string, rows: number, reason: string } => {
    const i = cursor++ % states.length
    const state = states[i] as DeviceState
    let m: OutMessage
    if (o.unknownFraction > 0 && rng() < o.unknownFraction) {
      const [c, s] = (sensorsOf[i] ?? [])[0] ?? []
      if (c !== undefined && s !== undefined) {
        m = sensorMessage(state, c, s, rng, stamp)
        m = { ...m, topic: m.topic.replace(/f2-[0-9a-f]{12}/, `f2-${unknownMac(unknown++)}`) }
        return { m, ts: lastStamp, rows: 0, reason: 'F2_REGISTRY_UNKNOWN_CONTROLLER' }
      }
    }
    if (o.mix === 'sensor') {
      const list = sensorsOf[i] ?? []
      const [c, s] = list[state.cursor++ % Math.max(1, list.length)] ?? []
      m = c !== undefined && s !== undefined ? sensorMessage(state, c, s, rng, stamp) : nextMessage(state, rng, stamp)
    } else if (o.mix === 'events') {
      const list = eventfulOf[i] ?? []
      const c = list[Math.floor(rng() * list.length)]
      m = c !== undefined ? eventMessage(state, c, rng, stamp) : nextMessage(state, rng, stamp)
    } else {
      m = nextMessage(state, rng, stamp)
    }
    return { m, ts: lastStamp, rows: rowsOf(byMac, m.topic), reason: '-' }
  }

  type Client = { mqtt: MqttHandle, inFlight: number }
  const macs = [...fleet.map(c => c.mac), ...(o.unknownFraction > 0 ? Array.from({ length: UNKNOWN_MACS }, (_, i) => unknownMac(i)) : [])]
  const accessFor = await prepareAccess(o.access, macs, createLogger('load', 'warn'))
  const clients = new Map<string, Client>()
  for (const mac of macs) {
    const a = accessFor(mac)
    const mqtt = createMqttClient({ url: a.url, clientId: a.clientId, username: a.username, password: a.password, ...(a.tls === undefined ? {} : { tls: a.tls }), reconnectMinMs: 200, reconnectMaxMs: 2000 })
    clients.set(mac, { mqtt, inFlight: 0 })
  }
  // TLS handshakes of a large fleet take their time on a small machine (10 000: minutes).
  await Promise.all([...clients.values()].map(c => c.mqtt.waitConnected(Math.max(60_000, clients.size * 30))))

  let credit = o.rate > 0 ? -1 : 0
  let stopping = false
  process.on('message', (msg: { credit?: number, stop?: boolean }) => {
    if (msg.credit !== undefined) credit = msg.credit
    if (msg.stop === true) stopping = true
  })
  let sent = 0
  let acked = 0
  let retried = 0
  let pending = 0
  const started = performance.now()
  const elapsed = (): number => (performance.now() - started) / 1000
  const report = (type: LoadProgress['type']): void => {
    const p: LoadProgress = { type, sent, acked, retried, seconds: Math.round(elapsed() * 1000) / 1000, unconfirmed: pending }
    process.send?.(p)
  }
  const progressTimer = setInterval(() => report('progress'), 500)

  const publish = (client: Client, item: ReturnType<typeof next>): void => {
    client.inFlight++
    pending++
    let done = false
    const attempt = (): void => {
      let settled = false
      // A device retries a publish that was not acknowledged in time (e.g. across a broker
      // restart, where MQTT.js may never settle it); the pipeline absorbs the repeat.
      const timer = setTimeout(() => { if (!settled) { settled = true; retried++; attempt() } }, PUBLISH_TIMEOUT_MS)
      client.mqtt.publish(item.m.topic, item.m.payload, { qos: 1 }).then(() => {
        clearTimeout(timer)
        if (done) return
        settled = true
        done = true
        client.inFlight--
        pending--
        acked++
        out.write(`${item.m.topic}\t${item.ts}+00\t${item.rows}\t${item.reason}\n`)
      }, () => {
        clearTimeout(timer)
        if (settled || done) return
        settled = true
        retried++
        setTimeout(attempt, 200)
      })
    }
    attempt()
  }

  // The next message waits for room in its own controller's window (per-device order kept).
  let held: ReturnType<typeof next> | undefined
  while (!stopping) {
    const t = elapsed()
    if (o.durationS > 0 && t >= o.durationS) break
    if (o.count > 0 && sent >= o.count) break
    let due = o.rate > 0 ? Math.floor(t * o.rate) + 1 : Number.POSITIVE_INFINITY
    if (credit >= 0) due = Math.min(due, credit)
    if (o.count > 0) due = Math.min(due, o.count)
    let room = true
    while (sent < due) {
      const item = held ?? next()
      const client = clients.get(extractMac(item.m.topic) ?? '') as Client
      if (client.inFlight >= o.windowPerConnection) { held = item; room = false; break }
      held = undefined
      publish(client, item)
      sent++
      if ((sent & 255) === 0) break
    }
    await new Promise(resolve => (room && sent < due) ? setImmediate(resolve) : setTimeout(resolve, o.rate > 0 ? 2 : 1))
  }
  const until = Date.now() + 60_000
  while (pending > 0 && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 20))
  clearInterval(progressTimer)
  await new Promise<void>(resolve => out.end(resolve))
  report('done')
  // Clients with unsettled publishes (after a broker restart) may never finish closing.
  await Promise.race([Promise.all([...clients.values()].map(c => c.mqtt.close(true).catch(() => {}))), new Promise(resolve => setTimeout(resolve, 2000))])
  process.exit(0)
}

if (process.argv[1]?.endsWith('load-worker.ts') === true) await main()
