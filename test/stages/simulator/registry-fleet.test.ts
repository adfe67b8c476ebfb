import { spawn } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type postgres from 'postgres'
import { createLogger } from '../../../src/adapters/logger.ts'
import { decodeMessage, needsSensor } from '../../../src/core/decode.ts'
import { buildEnvelope } from '../../../src/core/envelope.ts'
import { parseTopic } from '../../../src/core/topic.ts'
import { addController, addSensor, addTemplate } from '../../../src/registry/admin.ts'
import { listControllers } from '../../../src/registry/listing.ts'
import { RegistryStore } from '../../../src/registry/store.ts'
import { connect } from '../../../src/storage/connection.ts'
import { migrate } from '../../../src/storage/migrate.ts'
import { createDeviceState, eventMessage, sensorMessage, type OutMessage } from '../../../src/stages/simulator/device.ts'
import { createRng } from '../../../src/core/random.ts'
import { generatedMac, type SimController } from '../../../src/stages/simulator/fleet.ts'
import { loadFleet } from '../../../src/stages/simulator/registry-fleet.ts'
import { createTempDatabase, type TempDatabase } from '../../../harness/stack.ts'
import { simulatorBrokerEnv, stackBroker } from '../../../harness/broker.ts'

const logger = createLogger('simulator', 'silent')
const dbs: TempDatabase[] = []
const pools: postgres.Sql[] = []

async function migratedRegistry (): Promise<{ db: TempDatabase, sql: postgres.Sql }> {
  const db = await createTempDatabase('registry')
  dbs.push(db)
  const sql = connect(db.url, { max: 4 })
  pools.push(sql)
  await migrate(sql, 'registry')
  return { db, sql }
}

afterAll(async () => {
  for (const sql of pools) await sql.end({ timeout: 5 })
  for (const db of dbs) await db.drop()
})

let t = 0
const stamp = (): string => `2026-03-01 10:00:${String(t++ % 60).padStart(2, '0')}.${String(t).padStart(6, '0')}`

/** `perSensor` readings of every sensor and `events` events of every controller of `fleet`. */
function traffic (fleet: SimController[], perSensor: number, events: number): OutMessage[] {
  const rng = createRng(11)
  const out: OutMessage[] = []
  for (const c of fleet) {
    const state = createDeviceState(c, rng)
    for (let i = 0; i < perSensor; i++) for (const cn of c.connectors) for (const s of cn.sensors) out.push(sensorMessage(state, cn, s, rng, stamp))
    const eventful = c.connectors.filter(cn => cn.mode !== 'sensor-mode')
    for (let i = 0; i < events && eventful.length > 0; i++) out.push(eventMessage(state, eventful[i % eventful.length] as typeof eventful[number], rng, stamp))
  }
  return out
}

/** Decodes every message as the processor does (the real registry store, the core decoder); returns the measurements. */
async function decodeAll (sql: postgres.Sql, messages: OutMessage[]): Promise<Array<{ label: string, value: number | null, topic: string }>> {
  const store = new RegistryStore(sql)
  await store.start()
  const rows: Array<{ label: string, value: number | null, topic: string }> = []
  try {
    for (const m of messages) {
      const topic = parseTopic(m.topic)
      if (!topic.ok) throw new Error(`${m.topic}: ${topic.error.message}`)
      let sensor = null
      if (needsSensor(topic.value)) {
        const r = await store.resolveSensor(topic.value.mac, topic.value.connector, topic.value.position ?? -1)
        if (!r.ok) throw new Error(`${m.topic}: ${r.error.code} ${r.error.message}`)
        sensor = r.value
      }
      const envelope = buildEnvelope({ topic: m.topic, payload: new TextEncoder().encode(m.payload), receivedAtMs: Date.now(), qos: 1, retain: false })
      const out = decodeMessage({ envelope, topic: topic.value, sensor, zone: 'UTC' })
      expect(out.failures, m.topic).toEqual([])
      expect(out.measurements.length, m.topic).toBeGreaterThan(0)
      if (sensor !== null) expect(out.measurements.length).toBe(sensor.dataPoints.length)
      for (const x of out.measurements) rows.push({ label: x.datapoint_label, value: x.value, topic: m.topic })
    }
  } finally {
    await store.close()
  }
  return rows
}

describe('default fleet: the registry\'s controllers', () => {
  let sql: postgres.Sql
  let url: string

  beforeAll(async () => {
    ({ sql, db: { url } } = await migratedRegistry())
    // Beyond the sample data: an unusual layout, and a sensor on J5 (no F2 topic can carry it).
    await addTemplate(sql, {
      name: 'Odd Probe',
      dataPoints: [
        { label: 'Pressure', dataFormat: 'Float32_CDAB', offset: 1, length: 4, append: ' hPa' },
        { label: 'Level', dataFormat: 'Int8', offset: 0, length: 1, decimals: 1 },
        { label: 'Counter', dataFormat: 'Uint32_DCBA', offset: 5, length: 4, decimals: 2 }
      ]
    })
    await addController(sql, { mac: 'AA:BB:CC:00:11:22', name: 'Lab' })
    await addSensor(sql, { controller: 'aabbcc001122', connector: 3, pin: 6, template: 'Odd Probe' })
    await addSensor(sql, { controller: 'aabbcc001122', connector: 5, pin: 1, template: 'Power Monitor' })
  })

  it('is exactly the registry\'s controllers, every wired pin a publishing sensor', async () => {
    const loaded = await loadFleet({ devices: 0, seed: 1, register: false, registry: url, logger, waitMs: 10_000 })
    expect(loaded.source).toBe('registry')
    const listed = await listControllers(sql)
    expect(loaded.fleet.map(c => c.mac).sort()).toEqual(listed.map(c => c.mac).sort())
    expect(listed.map(c => c.mac)).toEqual(expect.arrayContaining(['e4fd45f654be', 'abc123def456', '123456abcdef', 'aabbcc001122']))
    for (const c of listed) {
      const sim = loaded.fleet.find(x => x.mac === c.mac) as SimController
      const wired = c.connectors.filter(cn => cn.number <= 4).flatMap(cn => cn.pins.filter(p => p.sensor !== null).map(p => `J${cn.number}/${p.position}`))
      expect(sim.connectors.flatMap(cn => cn.sensors.map(s => `J${cn.number}/${s.pin}`)).sort(), c.mac).toEqual(wired.sort())
      // Free connectors carry access control and alarm traffic.
      expect(sim.connectors.map(cn => cn.mode)).toEqual(expect.arrayContaining(['access-control-mode', 'alarm-mode']))
    }
    expect(loaded.skipped).toEqual([expect.objectContaining({ mac: 'aabbcc001122', connector: 5, pin: 1 })])
  })

  it('sends frames and events that all decode through the real registry, with plausible values', async () => {
    const { fleet } = await loadFleet({ devices: 0, seed: 1, register: false, registry: url, logger, waitMs: 10_000 })
    const messages = traffic(fleet, 30, 40)
    const components = new Set(messages.map(m => m.component))
    expect([...components].sort()).toEqual(['door-sensors', 'exit-buttons', 'motion-sensor', 'reader', 'sensor'])
    const rows = await decodeAll(sql, messages)
    const values = (label: string): number[] => rows.filter(r => r.label === label).map(r => r.value as number)
    expect(values('Temperature').length).toBe(60)
    expect(Math.min(...values('Temperature'))).toBeGreaterThanOrEqual(15)
    expect(Math.max(...values('Temperature'))).toBeLessThanOrEqual(30)
    expect(Math.min(...values('Voltage'))).toBeGreaterThanOrEqual(215)
    expect(Math.max(...values('Voltage'))).toBeLessThanOrEqual(245)
    const energy = values('Energy')
    expect(energy.length).toBe(30)
    for (let i = 1; i < energy.length; i++) expect(energy[i] as number).toBeGreaterThanOrEqual(energy[i - 1] as number)
    expect(values('Pressure').length).toBe(30)
    expect(values('Level').every(v => v >= 0 && v <= 12.7)).toBe(true)
  })
})

describe('generated fleet: --devices 200 --register', () => {
  let sql: postgres.Sql
  let db: TempDatabase

  beforeAll(async () => {
    ({ sql, db } = await migratedRegistry())
  })

  it('registers the fleet (in chunks, idempotently) with the registry\'s templates, and its frames decode', async () => {
    const loaded = await loadFleet({ devices: 200, seed: 4242, register: true, registry: db.url, logger, waitMs: 10_000, chunkSize: 64 })
    expect(loaded.source).toBe('generated')
    expect(loaded.fleet).toHaveLength(200)
    const sensors = loaded.fleet.reduce((n, c) => n + c.connectors.reduce((k, cn) => k + cn.sensors.length, 0), 0)
    expect(loaded.registered).toEqual({ controllersCreated: 200, sensorsCreated: sensors, sensorsKept: 0 })
    const templates = new Set(loaded.fleet.flatMap(c => c.connectors.flatMap(cn => cn.sensors.map(s => s.templateName))))
    expect([...templates].sort()).toEqual(['Energy Meter', 'Environmental Sensor', 'Power Monitor'])

    const listed = new Map((await listControllers(sql)).map(c => [c.mac, c]))
    expect(listed.size).toBe(203)
    for (const c of loaded.fleet) {
      const reg = listed.get(c.mac)
      expect(reg, c.mac).toBeDefined()
      const regPins = (reg?.connectors ?? []).flatMap(cn => cn.pins.map(p => `J${cn.number}/${p.position}:${p.sensor?.template ?? ''}`))
      expect(regPins.sort()).toEqual(c.connectors.flatMap(cn => cn.sensors.map(s => `J${cn.number}/${s.pin}:${s.templateName}`)).sort())
    }

    const again = await loadFleet({ devices: 200, seed: 4242, register: true, registry: db.url, logger, waitMs: 10_000, chunkSize: 64 })
    expect(again.fleet).toEqual(loaded.fleet)
    expect(again.registered).toEqual({ controllersCreated: 0, sensorsCreated: 0, sensorsKept: sensors })

    const rows = await decodeAll(sql, traffic(loaded.fleet, 2, 2))
    expect(rows.length).toBeGreaterThan(sensors * 2)
  }, 120_000)
})

function runCli (args: string[], env: Record<string, string>): Promise<{ code: number | null, stdout: string, stderr: string, ms: number }> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['src/cli.ts', 'simulator', ...args], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('error', reject)
    child.on('exit', code => resolve({ code, stdout, stderr, ms: Date.now() - started }))
  })
}

describe('command line', () => {
  // Each simulated controller over TLS with the account the simulator gives it as the admin.
  const base = simulatorBrokerEnv(stackBroker(), stackBroker().pki.caCert)

  it('--devices N --register --count registers, sends, reports', async () => {
    const { db, sql } = await migratedRegistry()
    const u = new URL(db.url)
    const r = await runCli(['--devices', '30', '--register', '--seed', '77', '--count', '40'], {
      ...base, POSTGRES_HOST: u.hostname, POSTGRES_PORT: u.port, POSTGRES_DB: db.name, POSTGRES_USER: decodeURIComponent(u.username), POSTGRES_PASSWORD: decodeURIComponent(u.password)
    })
    expect(r.code, r.stderr + r.stdout).toBe(0)
    const report = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { devices: number, sent: number, failed: number }
    expect(report).toMatchObject({ devices: 30, sent: 40, failed: 0 })
    const macs = new Set((await listControllers(sql)).map(c => c.mac))
    for (let i = 0; i < 30; i++) expect(macs.has(generatedMac(i, 77))).toBe(true)
  }, 60_000)

  it('gives up on an unreachable registry after SIM_REGISTRY_WAIT_S with a clear message', async () => {
    const r = await runCli(['--count', '5'], { ...base, POSTGRES_HOST: '127.0.0.1', POSTGRES_PORT: '1', SIM_REGISTRY_WAIT_S: '2' })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/registry postgres:\/\/.*127\.0\.0\.1:1\/.*gave up after \d+ s/)
    expect(r.ms).toBeLessThan(15_000)
  }, 30_000)
})
