import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DataPointDef } from '../../src/core/datapoint.ts'
import { isF2Error } from '../../src/core/errors.ts'
import { decodeSensorFrame, encodeSensorFrame } from '../../src/core/sensor.ts'
import { addSensor, addTemplate } from '../../src/registry/admin.ts'
import { RegistryStore } from '../../src/registry/store.ts'
import { connect } from '../../src/storage/connection.ts'
import { migratedDatabase, TcpProxy, type MigratedDatabase } from '../storage/helpers.ts'
import { waitForValue } from '../../harness/wait.ts'

let db: MigratedDatabase

beforeAll(async () => {
  db = await migratedDatabase('registry')
})

afterAll(async () => {
  await db?.drop()
})

const dp = (label: string, dataFormat: string, offset: number, length: number, decimals: number | null, append: string, dataEncoding: string | null = null, wholeNumber = false): Omit<DataPointDef, 'dataPointId'> =>
  ({ label, dataFormat, dataEncoding, offset, length, prepend: null, append, wholeNumber, decimals })

const ENV = [
  dp('Temperature', 'Int16', 0, 2, 2, ' °C'),
  dp('Humidity', 'Uint16', 2, 2, 2, ' %'),
  dp('CO2', 'Uint16', 4, 2, 0, ' ppm', null, true)
]
const POWER = [dp('Voltage', 'Uint16', 0, 2, 1, ' V'), dp('Current', 'Int16', 2, 2, 3, ' A')]
const METER = [
  dp('Voltage', 'Float32', 0, 4, null, ' V', 'modbus-rtu'),
  dp('Current', 'Float32', 4, 4, null, ' A', 'modbus-rtu'),
  dp('Active Power', 'Float32', 8, 4, null, ' W', 'modbus-rtu'),
  dp('Energy', 'Uint32', 12, 4, 2, ' kWh', 'modbus-rtu')
]

function withoutIds (defs: DataPointDef[]): Array<Omit<DataPointDef, 'dataPointId'>> {
  return defs.map(({ dataPointId: _id, ...rest }) => rest)
}

async function expectCode (p: Promise<unknown>, code: string): Promise<unknown> {
  try {
    await p
  } catch (err) {
    expect(isF2Error(err) ? err.code : err).toBe(code)
    return err
  }
  throw new Error(`expected ${code}, got success`)
}

describe('RegistryStore against the sample registry', () => {
  it('resolves the sample sensors to exactly their data points', async () => {
    const store = new RegistryStore(db.sql)
    await store.start()
    try {
      const cases: Array<[string, number, number, string, string, Array<Omit<DataPointDef, 'dataPointId'>>]> = [
        ['e4fd45f654be', 1, 1, 'Living Room Env Sensor', 'Environmental Sensor', ENV],
        ['e4fd45f654be', 1, 2, 'Main Energy Meter', 'Energy Meter', METER],
        ['abc123def456', 2, 2, 'Kitchen Power Monitor', 'Power Monitor', POWER],
        ['123456abcdef', 4, 3, 'Bedroom Env Sensor', 'Environmental Sensor', ENV]
      ]
      for (const [mac, connector, pin, sensorName, templateName, points] of cases) {
        const r = await store.resolveSensor(mac, connector, pin)
        if (!r.ok) throw new Error(`${mac} J${connector}/${pin}: ${r.error.code}`)
        expect(r.value).toMatchObject({ controllerMac: mac, connectorNumber: connector, pinPosition: pin, sensorName, templateName })
        expect(withoutIds(r.value.dataPoints)).toEqual(points)
        expect(new Set(r.value.dataPoints.map(d => d.dataPointId)).size).toBe(points.length)
        // what a simulator generates from these definitions decodes completely
        const values = Object.fromEntries(r.value.dataPoints.map((d, i) => [d.label, d.dataFormat === 'Float32' ? 230.5 + i : 12 + i]))
        const frame = decodeSensorFrame(encodeSensorFrame(r.value.dataPoints, values), r.value)
        expect(frame.failures).toEqual([])
        expect(Object.fromEntries(frame.values.map(v => [v.def.label, v.value]))).toEqual(values)
      }
    } finally {
      await store.close()
    }
  })

  it('matches the MAC in any case, with or without separators', async () => {
    const store = new RegistryStore(db.sql)
    for (const mac of ['E4:FD:45:F6:54:BE', 'e4-fd-45-f6-54-be', ' E4FD45F654BE ']) {
      const r = await store.resolveSensor(mac, 1, 1)
      expect(r.ok && r.value.sensorName).toBe('Living Room Env Sensor')
      expect(r.ok && r.value.controllerMac).toBe('e4fd45f654be')
    }
    expect(await store.resolveController('ABC123DEF456')).toMatchObject({ mac: 'abc123def456', name: 'F2 Controller 2' })
    expect(await store.resolveController('ffffffffffff')).toBeNull()
    // Not a MAC at all: answered without a query, as an unknown controller.
    expect(await store.resolveController('e4fd45f654')).toBeNull()
    const garbage = await store.resolveSensor('not a mac', 1, 1)
    expect(garbage.ok ? null : garbage.error.code).toBe('F2_REGISTRY_UNKNOWN_CONTROLLER')
  })

  it('returns typed failures for unknown controllers, unwired pins and templates without data points', async () => {
    const store = new RegistryStore(db.sql)
    const unknown = await store.resolveSensor('0a0b0c0d0e0f', 1, 1)
    expect(unknown.ok ? null : unknown.error.code).toBe('F2_REGISTRY_UNKNOWN_CONTROLLER')
    for (const [c, p] of [[1, 6], [3, 1], [9, 1], [1, -1], [1, 1e9]] as const) {
      const unwired = await store.resolveSensor('e4fd45f654be', c, p)
      expect(unwired.ok ? null : unwired.error.code).toBe('F2_REGISTRY_UNWIRED_PIN')
    }
    await db.sql`INSERT INTO "DeviceTemplate" ("Name") VALUES ('Empty Template')`
    await db.sql`INSERT INTO "Device" ("DeviceName", "MacAddress") VALUES ('bare', '02:00:00:00:00:01')`
    await db.sql`INSERT INTO "Device" ("DeviceName", "DeviceTemplateId")
      SELECT 'empty sensor', "DeviceTemplateId" FROM "DeviceTemplate" WHERE "Name" = 'Empty Template'`
    await db.sql`INSERT INTO "Connector" ("ControllerId", "ConnectorNumber") SELECT "DeviceId", 2 FROM "Device" WHERE "DeviceName" = 'bare'`
    await db.sql`INSERT INTO "Pin" ("ConnectorId", "Position", "DeviceId")
      SELECT cn."ConnectorId", 4, (SELECT "DeviceId" FROM "Device" WHERE "DeviceName" = 'empty sensor')
      FROM "Connector" cn JOIN "Device" d ON d."DeviceId" = cn."ControllerId" WHERE d."DeviceName" = 'bare'`
    const empty = await store.resolveSensor('020000000001', 2, 4)
    expect(empty.ok ? null : empty.error.code).toBe('F2_REGISTRY_NO_DATAPOINTS')
  })

  it('answers repeated lookups from the cache and shares concurrent misses', async () => {
    let queries = 0
    const counted = connect(db.url, { max: 4, debug: () => { queries++ } })
    const hits: string[] = []
    const misses: string[] = []
    const store = new RegistryStore(counted, { onHit: k => hits.push(k), onMiss: k => misses.push(k) })
    await store.start()
    try {
      expect(store.listening).toBe(true)
      await counted`SELECT 1` // opens the pool's connection (and its type lookup) first
      const before = queries
      const results = await Promise.all(Array.from({ length: 20 }, async () => await store.resolveSensor('abc123def456', 2, 2)))
      expect(results.every(r => r.ok)).toBe(true)
      expect(queries - before).toBe(1)
      const again = await store.resolveSensor('abc123def456', 2, 2)
      expect(again).toBe(results[0])
      expect(queries - before).toBe(1)
      expect(hits.filter(k => k === 'sensor').length).toBe(1)
      expect(misses.filter(k => k === 'sensor').length).toBe(20)
      // negative answers are cached too
      await store.resolveSensor('abc123def456', 2, 5)
      await store.resolveSensor('abc123def456', 2, 5)
      expect(queries - before).toBe(2)
    } finally {
      await store.close()
      await counted.end()
    }
  })

  it('sees a sensor wired while it runs within 1 s, through LISTEN/NOTIFY', async () => {
    // TTLs far beyond the test: only the notification can make the new wiring visible.
    const store = new RegistryStore(db.sql, { ttlMs: 600_000, negativeTtlMs: 600_000 })
    await store.start()
    try {
      const before = await store.resolveSensor('abc123def456', 3, 1)
      expect(before.ok ? null : before.error.code).toBe('F2_REGISTRY_UNWIRED_PIN')
      await addTemplate(db.sql, { name: 'Soil Probe', model: 'SP-1', dataPoints: [{ label: 'Moisture', dataFormat: 'Uint16', offset: 0, length: 2, decimals: 1, append: ' %' }] })
      await addSensor(db.sql, { controller: 'ab:c1:23:de:f4:56', connector: 3, pin: 1, template: 'Soil Probe', name: 'Garden Soil' })
      const { value, elapsedMs } = await waitForValue('new sensor resolves', async () => {
        const r = await store.resolveSensor('abc123def456', 3, 1)
        return r.ok ? r.value : undefined
      }, 1000)
      expect(elapsedMs).toBeLessThan(1000)
      expect(value.sensorName).toBe('Garden Soil')
      expect(value.dataPoints.map(d => [d.label, d.dataFormat, d.decimals])).toEqual([['Moisture', 'Uint16', 1]])
      // a change to a data point invalidates too
      await db.sql`UPDATE "DataPoint" SET "Decimals" = 2 WHERE "Label" = 'Moisture'`
      await waitForValue('changed decimals visible', async () => {
        const r = await store.resolveSensor('abc123def456', 3, 1)
        return r.ok && r.value.dataPoints[0]?.decimals === 2 ? true : undefined
      }, 1000)
    } finally {
      await store.close()
    }
  })

  it('throws F2_REGISTRY_UNAVAILABLE (retryable) when the database cannot be reached', async () => {
    const proxy = new TcpProxy(db.url)
    await proxy.up()
    const url = proxy.rewrite(db.url)
    await proxy.down()
    const sql = connect(url, { max: 1, connect_timeout: 2 })
    const store = new RegistryStore(sql)
    try {
      await store.start()
      expect(store.listening).toBe(false)
      const err = await expectCode(store.resolveSensor('e4fd45f654be', 1, 1), 'F2_REGISTRY_UNAVAILABLE')
      expect((err as { retryable: boolean }).retryable).toBe(true)
      await expectCode(store.resolveController('e4fd45f654be'), 'F2_REGISTRY_UNAVAILABLE')
    } finally {
      await store.close()
      await sql.end()
    }
  })

  it('re-listens after the connection is lost and drops what it cached meanwhile', async () => {
    const proxy = new TcpProxy(db.url)
    await proxy.up()
    const sql = connect(proxy.rewrite(db.url), { max: 2, connect_timeout: 2 })
    const store = new RegistryStore(sql, { ttlMs: 600_000, negativeTtlMs: 600_000, listenRetryMs: 100 })
    try {
      await store.start()
      expect(store.listening).toBe(true)
      const first = await store.resolveSensor('123456abcdef', 4, 3)
      expect(first.ok && first.value.sensorName).toBe('Bedroom Env Sensor')
      await proxy.down()
      await waitForValue('listening lost', async () => (store.listening ? undefined : true), 5000)
      // changed while the store cannot hear it
      await db.sql`UPDATE "Device" SET "DeviceName" = 'Guest Room Env Sensor' WHERE "DeviceName" = 'Bedroom Env Sensor'`
      // the cached definition keeps the pipeline going while the database is away
      const cached = await store.resolveSensor('123456abcdef', 4, 3)
      expect(cached.ok && cached.value.sensorName).toBe('Bedroom Env Sensor')
      await proxy.up()
      await waitForValue('listening again', async () => (store.listening ? true : undefined), 10_000)
      const after = await store.resolveSensor('123456abcdef', 4, 3)
      expect(after.ok && after.value.sensorName).toBe('Guest Room Env Sensor')
    } finally {
      await store.close()
      await sql.end()
      await proxy.down()
    }
  })
})
