import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../../src/adapters/logger.ts'
import { createRegistry } from '../../../src/adapters/metrics.ts'
import { createMqttClient, type MqttHandle } from '../../../src/adapters/mqtt.ts'
import { loadSimulatorConfig } from '../../../src/stages/simulator/config.ts'
import { generateFleet } from '../../../src/stages/simulator/fleet.ts'
import { simulatorMetrics } from '../../../src/stages/simulator/metrics.ts'
import { SimulatorStage } from '../../../src/stages/simulator/stage.ts'
import { simulatorBrokerEnv, stackBroker } from '../../../harness/broker.ts'
import { auth } from '../../../harness/mqtt-account.ts'
import { migratedDatabase, type MigratedDatabase } from '../../storage/helpers.ts'
import { stackEnv, uniqueName } from '../../../harness/stack.ts'

/**
 * The simulator's service lifecycle on the real broker: not ready before start, every
 * controller publishing once started, a reload that swaps the fleet without a stop, and
 * nothing more published once stopped.
 */
const broker = stackBroker()
const seed = Math.floor(Math.random() * 0xffffff)
const macs = generateFleet(3, seed).map(c => c.mac)
const seen = new Map<string, number>()
let observer: MqttHandle
let stage: SimulatorStage
let metrics: ReturnType<typeof simulatorMetrics>
let db: MigratedDatabase

async function waitFor (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

const total = (): number => [...seen.values()].reduce((a, b) => a + b, 0)

beforeAll(async () => {
  observer = createMqttClient({
    url: stackEnv().mqttUrl,
    ...auth(),
    clientId: uniqueName('sim-stage-obs'),
    subscriptions: macs.flatMap(mac => [{ filter: `tele/f2-${mac}/#`, qos: 0 as const }, { filter: `stat/f2-${mac}/#`, qos: 0 as const }]),
    onMessage: m => {
      const mac = m.topic.split('/')[1]?.slice(3) ?? ''
      // The retained presence message of an earlier run is no sign of this one.
      if (!m.retain) seen.set(mac, (seen.get(mac) ?? 0) + 1)
    }
  })
  await observer.waitConnected()
  // The generated fleet takes its sensor templates from the registry.
  db = await migratedDatabase('registry')
  const u = new URL(db.url)
  const config = loadSimulatorConfig({
    ...simulatorBrokerEnv(broker, broker.pki.caCert),
    POSTGRES_HOST: u.hostname,
    POSTGRES_PORT: u.port,
    POSTGRES_DB: u.pathname.slice(1),
    POSTGRES_USER: decodeURIComponent(u.username),
    POSTGRES_PASSWORD: decodeURIComponent(u.password),
    SIM_DEVICES: '3',
    SIM_SEED: String(seed),
    PUBLISH_INTERVAL: '0.5',
    HTTP_PORT: '0'
  })
  metrics = simulatorMetrics(createRegistry('simulator'))
  stage = new SimulatorStage({ config, logger: createLogger('simulator', 'silent'), metrics })
}, 60_000)

afterAll(async () => {
  await stage?.stop(5000)
  await observer?.close()
  await db?.drop()
})

describe('simulator stage', () => {
  it('is ready once every controller is connected, and each then publishes', async () => {
    expect(stage.readiness()).toEqual({ ready: false, checks: { fleet: false, mqtt: false } })
    await stage.start()
    expect(stage.readiness()).toEqual({ ready: true, checks: { fleet: true, mqtt: true } })
    await waitFor('every controller to publish', () => macs.every(mac => (seen.get(mac) ?? 0) > 0))
  }, 60_000)

  it('reloads the fleet and keeps publishing', async () => {
    await stage.reload()
    expect((await metrics.fleetReloads.get()).values.find(v => v.labels.result === 'ok')?.value).toBe(1)
    expect(stage.readiness().checks.fleet).toBe(true)
    const before = total()
    await waitFor('readings from the reloaded fleet', () => total() > before + 3)
  }, 60_000)

  it('publishes nothing once stopped', async () => {
    await stage.stop(5000)
    // A message already on its way to the observer arrives within this pause.
    await new Promise(resolve => setTimeout(resolve, 500))
    const after = total()
    await new Promise(resolve => setTimeout(resolve, 1500))
    expect(total()).toBe(after)
  }, 30_000)
})
