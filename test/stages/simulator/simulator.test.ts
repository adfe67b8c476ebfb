import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../../src/adapters/logger.ts'
import { createRegistry } from '../../../src/adapters/metrics.ts'
import { createMqttClient, type InboundMessage, type MqttHandle } from '../../../src/adapters/mqtt.ts'
import { decodeEnvelope } from '../../../src/core/envelope.ts'
import { loadSimulatorConfig } from '../../../src/stages/simulator/config.ts'
import { simulatorMetrics } from '../../../src/stages/simulator/metrics.ts'
import { prepareAccess } from '../../../src/stages/simulator/access.ts'
import { generateFleet } from '../../../src/stages/simulator/fleet.ts'
import { createSimulator, type Simulator } from '../../../src/stages/simulator/simulator.ts'
import { simulatorBrokerEnv, stackBroker } from '../../../harness/broker.ts'
import { auth } from '../../../harness/mqtt-account.ts'
import { connectorEnv, startConnector, type TestConnector } from '../connector/harness.ts'
import { readRecords } from '../../../harness/kafka.ts'
import { createTempTopics, stackEnv, uniqueName } from '../../../harness/stack.ts'
import { waitFor } from '../../../harness/wait.ts'

const broker = stackBroker()
const seed = Math.floor(Math.random() * 0xffffff)
const raw = uniqueName('raw-sim')
const dlq = uniqueName('dlq-sim')
let sim: Simulator
let registry: ReturnType<typeof createRegistry>
let observer: MqttHandle
let connector: TestConnector
let dropTopics: () => Promise<void>
const observed: InboundMessage[] = []

beforeAll(async () => {
  registry = createRegistry('simulator')
  // Each simulated controller connects over TLS with the account the simulator gives it.
  const config = loadSimulatorConfig({ ...simulatorBrokerEnv(broker, broker.pki.caCert), SIM_DEVICES: '6', SIM_SEED: String(seed) })
  const logger = createLogger('simulator', 'silent')
  const fleet = generateFleet(6, seed)
  sim = createSimulator({ config, logger, metrics: simulatorMetrics(registry), fleet, access: await prepareAccess(config, fleet.map(c => c.mac), logger) })
  await sim.start()
  const mac = sim.fleet[0]?.mac ?? ''
  observer = createMqttClient({ url: stackEnv().mqttUrl, ...auth(), clientId: uniqueName('obs'), subscriptions: [{ filter: `stat/f2-${mac}/#`, qos: 1 }, { filter: `tele/f2-${mac}/access-control-mode/#`, qos: 1 }], onMessage: m => observed.push(m) })
  await observer.waitConnected()
  dropTopics = (await createTempTopics([raw, dlq], 3)).delete
  connector = await startConnector(connectorEnv({ topic: raw, deadLetterTopic: dlq, filters: sim.fleet.flatMap(c => [`tele/f2-${c.mac}/#`, `stat/f2-${c.mac}/#`]), clientId: uniqueName('c'), group: uniqueName('g') }))
  await new Promise(resolve => setTimeout(resolve, 300))
}, 60_000)

afterAll(async () => {
  await sim?.stop()
  await observer?.close()
  await connector?.stop()
  await dropTopics?.()
})

describe('simulator against the real broker', () => {
  it('answers a strike toggle with the status sequence the spec implies, the second after the period', async () => {
    const mac = sim.fleet[0]?.mac ?? ''
    const strike = `access-control-mode/J1/strike-2`
    observed.length = 0
    await observer.publish(`cmnd/f2-${mac}/${strike}`, '', { qos: 1 })
    await waitFor('status report', () => observed.length >= 1, 5000)
    const sentAt = Date.now()
    await observer.publish(`cmnd/f2-${mac}/${strike}`, '{"power-flag": 2, "period": 2}', { qos: 1 })
    await waitFor('toggle end', () => observed.length >= 3, 10_000)
    const statuses = observed.filter(m => m.topic === `stat/f2-${mac}/${strike}`).map(m => ({ at: m.receivedAtMs, body: JSON.parse(m.payload.toString()) as { status: boolean, timestamp: string } }))
    expect(statuses.map(s => s.body.status)).toEqual([false, true, false])
    expect(statuses[2]!.at - sentAt).toBeGreaterThanOrEqual(1900)
    expect(statuses[1]!.at - sentAt).toBeLessThan(1000)
    expect(statuses.every(s => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/.test(s.body.timestamp))).toBe(true)

    await observer.publish(`cmnd/f2-${mac}/access-control-mode/J1/reader-1/success`, '2', { qos: 1 })
    await waitFor('reader reply', () => observed.some(m => m.topic === `tele/f2-${mac}/access-control-mode/J1/reader-1`), 5000)
    expect(await registry.getSingleMetricAsString('f2_simulator_commands_handled_total')).toContain('component="strike",result="ok"')
  }, 30_000)

  it('sends exactly N messages that arrive in Kafka through the connector, per-device order preserved', async () => {
    const n = 1500
    const before = connector.stage.stats().forwarded
    const sent = await sim.sendCount(n)
    expect(sent).toHaveLength(n)
    await waitFor('forwarded', () => connector.stage.stats().forwarded >= before + n, 30_000)
    const records = await readRecords(raw, before + n)
    const ids = new Set(sent.map(m => `${m.topic}|${m.id}`))
    const perDevice = new Map<string, string[]>()
    for (const r of records) {
      const e = decodeEnvelope(r.value)
      if (!e.ok) throw new Error(e.error.message)
      const ts = (e.value.payload as { timestamp: string }).timestamp
      if (!ids.has(`${e.value.original_topic}|${ts}`)) continue
      ids.delete(`${e.value.original_topic}|${ts}`)
      const list = perDevice.get(r.key) ?? []
      list.push(ts)
      perDevice.set(r.key, list)
    }
    expect(ids.size).toBe(0)
    for (const list of perDevice.values()) expect(list).toEqual([...list].sort())
    expect(await registry.getSingleMetricAsString('f2_simulator_messages_sent_total')).toContain('kind="tele",component="sensor"')
  }, 60_000)

  it('paces a service run: every sensor reports once within the first seconds, then waits for the interval', async () => {
    const sensors = sim.fleet.reduce((n, c) => n + c.connectors.reduce((k, cn) => k + cn.sensors.length, 0), 0)
    const abort = new AbortController()
    const run = sim.runPaced({ intervalMs: 60_000, warmupMs: 1500, eventIntervalMs: 1e12, signal: abort.signal })
    await new Promise(resolve => setTimeout(resolve, 3000))
    abort.abort()
    const report = await run
    expect(report).toMatchObject({ sent: sensors, acked: sensors, failed: 0 })
  }, 30_000)
})
