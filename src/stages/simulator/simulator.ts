import type { Logger } from '../../adapters/logger.ts'
import { createMqttClient, type MqttHandle } from '../../adapters/mqtt.ts'
import { formatF2Timestamp } from '../../core/timestamp.ts'
import { extractMac, presenceTopic } from '../../core/topic.ts'
import { handleCommand } from './commands.ts'
import type { AccessFor } from './access.ts'
import type { SimulatorConfig } from './config.ts'
import { ErrorCodes, F2Error } from '../../core/errors.ts'
import { createDeviceState, eventMessage, nextMessage, sensorMessage, type DeviceState, type OutMessage } from './device.ts'
import { createRng } from '../../core/random.ts'
import { generateFleet, type SimConnector, type SimController, type SimSensor } from './fleet.ts'
import type { SimulatorMetrics } from './metrics.ts'

export interface SentMessage extends OutMessage {
  /** The F2 timestamp in the payload: unique and increasing within one simulator. */
  id: string
}

export interface LoadReport { sent: number, acked: number, failed: number, seconds: number, achievedRate: number }

export interface Simulator {
  fleet: SimController[]
  start: () => Promise<void>
  stop: () => Promise<void>
  /** Publishes exactly `n` messages as fast as the in-flight window allows; resolves when all are acknowledged. */
  sendCount: (n: number) => Promise<SentMessage[]>
  /** Publishes at `rate` messages/s until `count` messages or `durationMs` (whichever is set, first). */
  runLoad: (options: { rate: number, count?: number, durationMs?: number, signal?: AbortSignal }) => Promise<LoadReport>
  /**
   * Realistic pacing until `signal` aborts: every sensor reports once per `intervalMs`, the
   * first round spread over `warmupMs` (default min(interval, max(2 s, 1 ms per sensor))) so
   * readings appear within seconds of start; events (doors, exit buttons, motion, reader
   * scans) arrive at random, on average one per access-control / alarm connector per
   * `eventIntervalMs` (default the interval).
   */
  runPaced: (options: { intervalMs: number, warmupMs?: number, eventIntervalMs?: number, signal?: AbortSignal }) => Promise<LoadReport>
  /** Publishes every reply of the simulated devices' command handling (for tests). */
  readonly commandsHandled: () => number
  ready: () => boolean
  /**
   * Stops a controller (for tests and demonstrations): 'silent' = it publishes nothing more
   * but stays connected (only the offline threshold can notice); 'will' = also drops its
   * connection with MQTT v5 reason 0x04, so the broker publishes its last will at once.
   */
  stopController: (mac: string, how: 'silent' | 'will') => Promise<void>
  /** Lets a stopped controller publish again (reconnecting, and announcing `online`, after 'will'). */
  resumeController: (mac: string) => Promise<void>
}

export interface SimulatorDeps {
  config: SimulatorConfig
  logger: Logger
  metrics: SimulatorMetrics
  /** Each controller's broker account (src/stages/simulator/access.ts). */
  access: AccessFor
  /** Default: `config.devices` generated controllers with the built-in templates (for tests; the service passes the fleet loadFleet read). */
  fleet?: SimController[]
}

/**
 * A fleet of F2 controllers, each on its own MQTT connection with its own account, as real
 * controllers are (the broker lets a controller publish only on its own topics), with its last
 * will `offline` on tele/f2-<mac>/LWT and `online` published there, retained, on every connect
 * (the Tasmota convention). Messages follow f2-protocol.md: sensor frames that decode with the fleet's data-point definitions,
 * state-change events, reader scans, device timestamps; each controller obeys the commands on
 * its `cmnd/f2-<mac>/#` and answers on `stat/` (or `tele/` for the reader).
 */
export function createSimulator (deps: SimulatorDeps): Simulator {
  const { config, logger, metrics } = deps
  const fleet = deps.fleet ?? generateFleet(config.devices, config.seed)
  if (fleet.length === 0) throw new F2Error(ErrorCodes.CONFIG_INVALID, 'the simulator needs at least one controller')
  const rng = createRng(config.seed ^ 0x5f2)
  const states = new Map<string, DeviceState>(fleet.map(c => [c.mac, createDeviceState(c, rng)]))
  const order = [...states.values()]
  let cursor = 0
  let lastMicros = 0
  let commandsHandled = 0
  const connections = new Map<string, MqttHandle>()
  const timers = new Set<NodeJS.Timeout>()
  const connected = new Set<string>()
  /** Controllers held by stopController: nothing they would publish is sent. */
  const stopped = new Set<string>()
  metrics.devices.set(fleet.length)

  const stamp = (): string => {
    lastMicros = Math.max(Math.round(Date.now() * 1000), lastMicros + 1)
    return formatF2Timestamp(lastMicros / 1000, config.zone)
  }

  const publish = async (m: OutMessage): Promise<boolean> => {
    if (stopped.size > 0) {
      const mac = extractMac(m.topic)
      if (mac !== null && stopped.has(mac)) return true
    }
    const started = performance.now()
    try {
      const mqtt = connections.get(extractMac(m.topic) ?? '')
      if (mqtt === undefined) throw new Error(`no connection for ${m.topic}`)
      await mqtt.publish(m.topic, m.payload, { qos: config.qos })
      metrics.sent.inc({ kind: m.kind, component: m.component })
      metrics.publishLatency.observe((performance.now() - started) / 1000)
      return true
    } catch (err) {
      metrics.publishErrors.inc()
      logger.debug({ err, topic: m.topic }, 'publish failed')
      return false
    }
  }

  const next = (): SentMessage => {
    const state = order[cursor++ % order.length] as DeviceState
    const m = nextMessage(state, rng, stamp)
    return { ...m, id: (JSON.parse(m.payload) as { timestamp: string }).timestamp }
  }

  const onCommand = (topic: string, payload: Buffer): void => {
    const mac = extractMac(topic)
    const state = mac === null ? undefined : states.get(mac)
    if (state === undefined) return
    const outcome = handleCommand(state, topic, payload.toString('utf8'), stamp)
    commandsHandled++
    metrics.commands.inc({ component: outcome.component, result: outcome.result })
    if (outcome.result === 'invalid') logger.debug({ topic, reason: outcome.reason }, 'command refused')
    for (const r of outcome.replies) void publish(r)
    const later = outcome.later
    if (later !== undefined) {
      clearTimeout(state.toggles.get(later.key))
      const timer = setTimeout(() => {
        timers.delete(timer)
        state.toggles.delete(later.key)
        void publish(later.run())
      }, later.afterMs)
      timers.add(timer)
      state.toggles.set(later.key, timer)
    }
  }

  /** Opens `controller`'s connection, with its account and its last will (not awaited). */
  const connect = (controller: SimController): MqttHandle => {
    const a = deps.access(controller.mac)
    const presence = presenceTopic(controller.mac)
    const options: Parameters<typeof createMqttClient>[0] = {
      url: a.url,
      clientId: a.clientId,
      username: a.username,
      password: a.password,
      subscriptions: config.commands ? [{ filter: `cmnd/f2-${controller.mac}/#`, qos: 1 }] : [],
      // A persistent session, as the controllers keep one: a command published while the
      // controller was away arrives on its return, unless its message expiry (the command's
      // TTL, at most an hour) has passed.
      ...(config.commands ? { clean: false, sessionExpirySeconds: 3600 } : {}),
      // The broker publishes it when the connection is lost without a clean DISCONNECT.
      will: { topic: presence, payload: 'offline', qos: 1, retain: true },
      onMessage: m => { onCommand(m.topic, m.payload) },
      onConnect: () => {
        connected.add(controller.mac)
        metrics.connected.set(connected.size)
        // Retained, so a subscriber that comes later still learns the controller is back.
        void handle.publish(presence, 'online', { qos: 1, retain: true }).catch(() => {})
      },
      onDisconnect: () => { connected.delete(controller.mac); metrics.connected.set(connected.size) },
      onError: err => { logger.warn({ err: err.message, controller: a.username }, 'MQTT error') }
    }
    if (a.tls !== undefined) options.tls = a.tls
    const handle = createMqttClient(options)
    connections.set(controller.mac, handle)
    return handle
  }

  const subscribeCommands = async (mac: string): Promise<void> => {
    await connections.get(mac)?.client.subscribeAsync({ [`cmnd/f2-${mac}/#`]: { qos: 1 } })
  }

  const runLoad: Simulator['runLoad'] = async ({ rate, count, durationMs, signal }) => {
    const started = performance.now()
    let sent = 0
    let acked = 0
    let failed = 0
    let inFlight = 0
    const limit = count ?? Number.POSITIVE_INFINITY
    const endAt = durationMs === undefined || durationMs === 0 ? Number.POSITIVE_INFINITY : started + durationMs
    while (sent < limit && performance.now() < endAt && signal?.aborted !== true) {
      const due = Math.min(limit, rate > 0 ? Math.floor(((performance.now() - started) / 1000) * rate) + 1 : limit)
      while (sent < due && inFlight < config.maxInFlight) {
        sent++
        inFlight++
        void publish(next()).then(ok => { inFlight--; if (ok) acked++; else failed++ })
      }
      await new Promise(resolve => setTimeout(resolve, inFlight >= config.maxInFlight || rate > 0 ? 5 : 0))
    }
    while (inFlight > 0) await new Promise(resolve => setTimeout(resolve, 5))
    const seconds = (performance.now() - started) / 1000
    return { sent, acked, failed, seconds: Number(seconds.toFixed(3)), achievedRate: Number((acked / seconds).toFixed(1)) }
  }

  const runPaced: Simulator['runPaced'] = async ({ intervalMs, warmupMs, eventIntervalMs, signal }) => {
    const sensors = order.flatMap(st => st.controller.connectors.flatMap(c => c.sensors.map(s => [st, c, s] as const)))
    const eventful = order.flatMap(st => st.controller.connectors.filter(c => c.mode !== 'sensor-mode').map(c => [st, c] as const))
    const n = sensors.length
    const warmup = Math.min(intervalMs, warmupMs ?? Math.max(2000, n))
    // Poisson arrivals across all eventful connectors.
    const eventGap = (): number => eventful.length === 0 ? Number.POSITIVE_INFINITY : -Math.log(1 - rng()) * (eventIntervalMs ?? intervalMs) / eventful.length
    const started = performance.now()
    let nextEventAt = started + eventGap()
    let k = 0
    let sent = 0
    let acked = 0
    let failed = 0
    let inFlight = 0
    while (signal?.aborted !== true) {
      const sensorDue = n === 0 ? Number.POSITIVE_INFINITY : started + Math.floor(k / n) * intervalMs + (k % n) * warmup / n
      const due = Math.min(sensorDue, nextEventAt)
      const wait = due - performance.now()
      if (wait > 0 || inFlight >= config.maxInFlight) {
        await pause(inFlight >= config.maxInFlight ? 5 : Math.min(wait, 1000), signal)
        continue
      }
      let m: OutMessage
      if (sensorDue <= nextEventAt) {
        const [st, c, s] = sensors[k % n] as readonly [DeviceState, SimConnector, SimSensor]
        m = sensorMessage(st, c, s, rng, stamp)
        k++
      } else {
        const [st, c] = eventful[Math.floor(rng() * eventful.length)] as readonly [DeviceState, SimConnector]
        m = eventMessage(st, c, rng, stamp)
        nextEventAt += eventGap()
      }
      sent++
      inFlight++
      void publish(m).then(ok => { inFlight--; if (ok) acked++; else failed++ })
    }
    while (inFlight > 0) await new Promise(resolve => setTimeout(resolve, 5))
    const seconds = (performance.now() - started) / 1000
    return { sent, acked, failed, seconds: Number(seconds.toFixed(3)), achievedRate: Number((acked / seconds).toFixed(1)) }
  }

  return {
    fleet,
    runPaced,
    commandsHandled: () => commandsHandled,
    // A controller held by stopController is absent on purpose, not a fault.
    ready: () => fleet.every(c => stopped.has(c.mac) || connections.get(c.mac)?.connected() === true),
    start: async () => {
      for (const controller of fleet) connect(controller)
      await Promise.all([...connections.values()].map(c => c.waitConnected(30_000)))
      // The subscriptions are acknowledged before commands are expected.
      if (config.commands) await Promise.all(fleet.map(async c => subscribeCommands(c.mac)))
    },
    stop: async () => {
      for (const t of timers) clearTimeout(t)
      timers.clear()
      await Promise.all([...connections.values()].map(c => c.close()))
      connections.clear()
      connected.clear()
      metrics.connected.set(0)
    },
    stopController: async (mac, how) => {
      if (!states.has(mac)) throw new F2Error(ErrorCodes.CONFIG_INVALID, `no simulated controller ${mac}`)
      stopped.add(mac)
      if (how === 'silent') return
      const handle = connections.get(mac)
      if (handle === undefined) return
      connections.delete(mac)
      connected.delete(mac)
      metrics.connected.set(connected.size)
      await handle.closeWithWill()
    },
    resumeController: async mac => {
      const state = states.get(mac)
      if (state === undefined) throw new F2Error(ErrorCodes.CONFIG_INVALID, `no simulated controller ${mac}`)
      if (!connections.has(mac)) {
        await connect(state.controller).waitConnected(30_000)
        if (config.commands) await subscribeCommands(mac)
      }
      stopped.delete(mac)
    },
    sendCount: async n => {
      const out: SentMessage[] = []
      const pending: Array<Promise<boolean>> = []
      for (let i = 0; i < n; i++) {
        const m = next()
        out.push(m)
        pending.push(publish(m))
        if (pending.length >= config.maxInFlight) await Promise.all(pending.splice(0))
      }
      await Promise.all(pending)
      return out
    },
    runLoad
  }
}

/** Waits `ms`, or less if `signal` aborts. */
async function pause (ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted === true) return
  await new Promise<void>(resolve => {
    const done = (): void => { clearTimeout(timer); signal?.removeEventListener('abort', done); resolve() }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}
