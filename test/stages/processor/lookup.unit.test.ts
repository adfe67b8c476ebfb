import { describe, expect, it } from 'vitest'
import { ErrorCodes, F2Error } from '../../../src/core/errors.ts'
import { fail, ok, type Result } from '../../../src/core/result.ts'
import type { SensorDefinition } from '../../../src/core/sensor.ts'
import { lookupSensors, type SensorResolver } from '../../../src/stages/processor/lookup.ts'
import { prepare, sensorKey } from '../../../src/stages/processor/transform.ts'
import { LIVING_ROOM, record, SENSOR_TOPIC } from './fixtures.ts'

const READING = { timestamp: '2023-05-26 18:34:04.928538', data: '0AEA139201A4' }

function resolver (answer: (mac: string, connector: number, pin: number) => Result<SensorDefinition>): SensorResolver & { calls: string[] } {
  const calls: string[] = []
  return {
    calls,
    resolveSensor: async (mac, connector, pin) => {
      calls.push(`${mac}/${connector}/${pin}`)
      return answer(mac, connector, pin)
    }
  }
}

describe('processor sensor lookups', () => {
  it('looks each distinct sensor of a batch up once, and nothing for messages that need none', async () => {
    const batch = [
      record(SENSOR_TOPIC, READING, 1),
      record(SENSOR_TOPIC, READING, 2),
      record('tele/f2-e4fd45f654be/sensor-mode/J1/sensor-2', READING, 3),
      record('stat/f2-e4fd45f654be/access-control-mode/J2/door-sensors', { timestamp: READING.timestamp, 'door-sensor-1': true }, 4),
      record('tele/f2-e4fd45f654be/LWT', 'online', 5),
      { topic: 'raw', partition: 0, offset: 6n, key: null, value: Buffer.from('not an envelope') }
    ].map(prepare)
    const r = resolver((mac, connector, pin) => pin === 1 ? ok(LIVING_ROOM) : fail(ErrorCodes.REGISTRY_UNWIRED_PIN, `no sensor ${mac}/${connector}/${pin}`))
    const { sensors, lookupSeconds } = await lookupSensors(r, batch)
    expect(r.calls.sort()).toEqual(['e4fd45f654be/1/1', 'e4fd45f654be/1/2'])
    const one = sensorKey({ mac: 'e4fd45f654be', connector: 1, pin: 1 })
    const two = sensorKey({ mac: 'e4fd45f654be', connector: 1, pin: 2 })
    expect(sensors.get(one)).toEqual(ok(LIVING_ROOM))
    expect(sensors.get(two)?.ok).toBe(false)
    expect([...lookupSeconds.keys()].sort()).toEqual([one, two])
    for (const s of lookupSeconds.values()) expect(s).toBeGreaterThanOrEqual(0)
  })

  it('rejects with the registry error when the registry cannot answer (the caller holds the batch)', async () => {
    const down: SensorResolver = { resolveSensor: async () => { throw new F2Error(ErrorCodes.REGISTRY_UNAVAILABLE, 'registry down', { retryable: true }) } }
    await expect(lookupSensors(down, [prepare(record(SENSOR_TOPIC, READING))])).rejects.toMatchObject({ code: ErrorCodes.REGISTRY_UNAVAILABLE, retryable: true })
  })
})
