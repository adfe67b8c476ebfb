import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { isF2Error } from '../../src/core/errors.ts'
import { addController, addSensor, addTemplate, registerFleet, type FleetController } from '../../src/registry/admin.ts'
import { run } from '../../src/registry/cli.ts'
import { listControllers, listTemplates } from '../../src/registry/listing.ts'
import { RegistryStore } from '../../src/registry/store.ts'
import { migratedDatabase, type MigratedDatabase } from '../storage/helpers.ts'

let db: MigratedDatabase

beforeAll(async () => {
  db = await migratedDatabase('registry')
})

afterAll(async () => {
  await db?.drop()
})

async function codeOf (p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'ok'
  } catch (err) {
    return isF2Error(err) ? err.code : String(err)
  }
}

function fleet (count: number): FleetController[] {
  return Array.from({ length: count }, (_, i) => ({
    mac: `02:f2:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
    name: `sim-${i}`,
    sensors: [
      { connector: 1, pin: 1, template: 'Environmental Sensor' },
      { connector: 1, pin: 2, template: 'Energy Meter' },
      { connector: 2, pin: 1, template: 'Power Monitor' },
      { connector: 4, pin: 3, template: 'Probe' }
    ]
  }))
}

describe('registry changes', () => {
  it('registers a fleet in one transaction, idempotently, and every pin resolves', async () => {
    const templates = [{ name: 'Probe', dataPoints: [{ label: 'Level', dataFormat: 'Int32', offset: 0, length: 4, decimals: 3, append: ' m' }] }]
    const started = performance.now()
    const first = await registerFleet(db.sql, fleet(300), { templates })
    const elapsed = performance.now() - started
    expect(first).toMatchObject({ controllersCreated: 300, sensorsCreated: 1200, sensorsKept: 0 })
    expect(elapsed).toBeLessThan(10_000)
    const again = await registerFleet(db.sql, fleet(300), { templates })
    expect(again).toMatchObject({ controllersCreated: 0, sensorsCreated: 0, sensorsKept: 1200 })
    expect(again.controllers.map(c => c.deviceId)).toEqual(first.controllers.map(c => c.deviceId))

    const store = new RegistryStore(db.sql)
    for (const c of [0, 137, 299]) {
      const mac = (first.controllers[c] as { mac: string }).mac
      const probe = await store.resolveSensor(mac, 4, 3)
      expect(probe.ok && probe.value.dataPoints.map(d => d.label)).toEqual(['Level'])
      const meter = await store.resolveSensor(mac, 1, 2)
      expect(meter.ok && meter.value.dataPoints.length).toBe(4)
    }
    const listed = await listControllers(db.sql)
    expect(listed.length).toBe(303)
    const sim = listed.find(c => c.mac === '02f200000000')
    expect(sim?.connectors.map(cn => [cn.number, cn.pins.map(p => [p.position, p.sensor?.template])])).toEqual([
      [1, [[1, 'Environmental Sensor'], [2, 'Energy Meter']]], [2, [[1, 'Power Monitor']]], [4, [[3, 'Probe']]]
    ])
  })

  it('rewires a pin to another template and refuses invalid input', async () => {
    const r = await registerFleet(db.sql, [{ mac: '02f200000001', sensors: [{ connector: 1, pin: 1, template: 'Power Monitor' }] }])
    expect(r).toMatchObject({ sensorsCreated: 1, controllersCreated: 0 })
    const store = new RegistryStore(db.sql)
    const rewired = await store.resolveSensor('02f200000001', 1, 1)
    expect(rewired.ok && rewired.value.templateName).toBe('Power Monitor')

    expect(await codeOf(registerFleet(db.sql, [{ mac: 'nope', sensors: [] }]))).toBe('F2_REGISTRY_INVALID_CHANGE')
    expect(await codeOf(registerFleet(db.sql, [{ mac: '02f2ffff0009', sensors: [{ connector: 6, pin: 1, template: 'Probe' }] }]))).toBe('F2_REGISTRY_INVALID_CHANGE')
    expect(await codeOf(registerFleet(db.sql, [{ mac: '02f2ffff0009', sensors: [{ connector: 1, pin: 1, template: 'No Such' }] }]))).toBe('F2_REGISTRY_INVALID_CHANGE')
    // nothing of a refused fleet is written
    expect(await store.resolveController('02f2ffff0009')).toBeNull()
    expect(await codeOf(addSensor(db.sql, { controller: 'ffffffffffff', connector: 1, pin: 1, template: 'Probe' }))).toBe('F2_REGISTRY_INVALID_CHANGE')
    expect(await codeOf(addSensor(db.sql, { controller: 'e4fd45f654be', connector: 1, pin: 1, template: 'Probe' }))).toBe('F2_REGISTRY_INVALID_CHANGE')
    expect(await codeOf(addTemplate(db.sql, { name: 'Probe', dataPoints: [{ label: 'x', dataFormat: 'Int16', offset: 0, length: 2 }] }))).toBe('F2_REGISTRY_INVALID_CHANGE')
    expect(await codeOf(addTemplate(db.sql, { name: 'Bad width', dataPoints: [{ label: 'x', dataFormat: 'Int16', offset: 0, length: 4 }] }))).toBe('F2_REGISTRY_INVALID_CHANGE')
    expect(await codeOf(addTemplate(db.sql, { name: 'Bad format', dataPoints: [{ label: 'x', dataFormat: 'Int64', offset: 0, length: 8 }] }))).toBe('F2_REGISTRY_INVALID_CHANGE')
    expect(await codeOf(addTemplate(db.sql, { name: 'Dup', dataPoints: [{ label: 'x', dataFormat: 'Int16', offset: 0, length: 2 }, { label: 'x', dataFormat: 'Int16', offset: 2, length: 2 }] }))).toBe('F2_REGISTRY_INVALID_CHANGE')
    const replaced = await addTemplate(db.sql, { name: 'Probe', dataPoints: [{ label: 'Depth', dataFormat: 'Uint16', offset: 0, length: 2 }] }, { ifExists: 'replace' })
    expect(replaced.created).toBe(false)
    const probe = (await listTemplates(db.sql)).find(t => t.name === 'Probe')
    expect(probe?.dataPoints.map(d => d.label)).toEqual(['Depth'])
  })

  it('adds a controller once, whatever the MAC spelling', async () => {
    const a = await addController(db.sql, { mac: '02:AA:BB:CC:DD:EE', name: 'lab' })
    const b = await addController(db.sql, { mac: '02aabbccddee' })
    expect(a).toMatchObject({ mac: '02aabbccddee', created: true })
    expect(b).toMatchObject({ deviceId: a.deviceId, created: false })
  })

  it('runs the registry command against POSTGRES_* settings', async () => {
    const u = new URL(db.url)
    const env = { POSTGRES_HOST: u.hostname, POSTGRES_PORT: u.port, POSTGRES_DB: u.pathname.slice(1), POSTGRES_USER: decodeURIComponent(u.username), POSTGRES_PASSWORD: decodeURIComponent(u.password) }
    for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v)
    const out: string[] = []
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => { out.push(String(chunk)); return true })
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    try {
      expect(await run(['add-controller', '--mac', '02:00:00:00:cc:01', '--name', 'cli'])).toBe(0)
      expect(await run(['add-template', '--name', 'CLI Probe', '--model', 'C1', '--datapoint', 'Temp:Int16:0:2:1:°C', '--datapoint', 'Raw:Uint32:2:4'])).toBe(0)
      expect(await run(['add-sensor', '--controller', '02000000CC01', '--connector', '2', '--pin', '5', '--template', 'CLI Probe', '--name', 'cli probe'])).toBe(0)
      expect(await run(['add-sensor', '--controller', '02000000cc01', '--connector', '9', '--pin', '5', '--template', 'CLI Probe'])).toBe(1)
      expect(await run(['add-sensor', '--connector', '2'])).toBe(1)
      expect(await run(['set-interval', '--controller', '02:00:00:00:cc:01', '--seconds', '45'])).toBe(0)
      expect(await db.sql`SELECT "ExpectedReportingIntervalS" AS s FROM "Device" WHERE "MacAddress" = '02000000cc01'`).toEqual([{ s: 45 }])
      expect(await run(['set-interval', '--controller', '02000000cc01', '--seconds', 'default'])).toBe(0)
      expect(await db.sql`SELECT "ExpectedReportingIntervalS" AS s FROM "Device" WHERE "MacAddress" = '02000000cc01'`).toEqual([{ s: null }])
      expect(await run(['set-interval', '--controller', '02000000cc01', '--seconds', '0'])).toBe(1)
      expect(await run(['set-interval', '--controller', '02000000ffff', '--seconds', '30'])).toBe(1)
      expect(await run(['bogus'])).toBe(2)
      expect(await run(['list', '--unknown-flag'])).toBe(2)
      out.length = 0
      expect(await run(['list'])).toBe(0)
      const text = out.join('')
      expect(text).toContain('controller 02000000cc01')
      expect(text).toContain('sensor-5: cli probe')
      expect(text).toMatch(/Temp: Int16 @0\+2 \/10\^1 °C/)
    } finally {
      spy.mockRestore()
      err.mockRestore()
      vi.unstubAllEnvs()
    }
    const store = new RegistryStore(db.sql)
    const r = await store.resolveSensor('02:00:00:00:cc:01', 2, 5)
    expect(r.ok && r.value.dataPoints.map(d => [d.label, d.dataFormat, d.offset, d.length, d.decimals, d.append])).toEqual([
      ['Temp', 'Int16', 0, 2, 1, ' °C'], ['Raw', 'Uint32', 2, 4, null, null]
    ])
  })
})
