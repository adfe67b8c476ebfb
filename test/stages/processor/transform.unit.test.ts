import { describe, expect, it } from 'vitest'
import { decodeDeadLetter, deadLetterValue } from '../../../src/core/dead-letter.ts'
import { buildEnvelope, encodeEnvelope, encodeEnvelopeOf } from '../../../src/core/envelope.ts'
import { ErrorCodes } from '../../../src/core/errors.ts'
import { fail, ok, type Result } from '../../../src/core/result.ts'
import type { SensorDefinition } from '../../../src/core/sensor.ts'
import { finish, parseSensorKey, prepare, sensorKey, type SourceRecord } from '../../../src/stages/processor/transform.ts'
import { dp, LIVING_ROOM, NOW, record, SENSOR_TOPIC } from './fixtures.ts'

function run (r: SourceRecord, sensors: Map<string, Result<SensorDefinition>> = new Map()) {
  const p = prepare(r)
  return { p, out: finish(p, sensors, 'UTC', NOW) }
}

describe('processor transform', () => {
  it('recognises a presence message: counted by the caller, no measurement, no dead letter', () => {
    for (const payload of ['online', 'offline']) {
      const { p, out } = run(record('tele/f2-e4fd45f654be/LWT', payload))
      expect(p.ok).toBe('presence')
      if (p.ok === 'presence') expect(p.presence).toBe(payload)
      expect(out).toEqual({ measurements: [], deadLetters: [] })
    }
    const bad = run(record('tele/f2-e4fd45f654be/LWT', 'maybe'))
    expect(bad.out.deadLetters.map(d => d.reason)).toEqual([ErrorCodes.PAYLOAD_INVALID])
  })

  it('asks for the sensor of a sensor reading, and only then', () => {
    const s = prepare(record(SENSOR_TOPIC, { timestamp: '2023-05-26 18:34:04.928538', data: '0AEA139201A4' }))
    expect(s.ok === true && s.sensorKey).toBe(sensorKey({ mac: 'e4fd45f654be', connector: 1, pin: 1 }))
    expect(parseSensorKey('e4fd45f654be/1/1')).toEqual({ mac: 'e4fd45f654be', connector: 1, pin: 1 })
    const d = prepare(record('stat/f2-e4fd45f654be/access-control-mode/J2/door-sensors', { timestamp: '2023-05-26 18:34:04.928538', 'door-sensor-1': true }))
    expect(d.ok === true && d.sensorKey).toBeNull()
  })

  it('decodes the seed sample sensor to the exact values', () => {
    const key = sensorKey({ mac: 'e4fd45f654be', connector: 1, pin: 1 })
    const { out } = run(record(SENSOR_TOPIC, { timestamp: '2023-05-26 18:34:04.928538', data: '0A EA 13 92 01 A4' }), new Map([[key, ok(LIVING_ROOM)]]))
    expect(out.deadLetters).toEqual([])
    expect(out.measurements.map(m => [m.datapoint_label, m.value, m.unit])).toEqual([
      ['Temperature', 27.94, '°C'], ['Humidity', 50.1, '%'], ['CO2', 420, 'ppm']
    ])
    const m = out.measurements[0]
    expect(m).toMatchObject({ timestamp: '2023-05-26T18:34:04.928538Z', device_id: 'e4fd45f654be', connector_mode: 'sensor-mode', pin_position: '1', connector: 1, sensor_device_id: 4, datapoint_id: 1, topic: SENSOR_TOPIC })
  })

  it('decodes the other component kinds as state and text measurements', () => {
    const ts = '2023-05-26 18:34:04.928538'
    const door = run(record('stat/f2-e4fd45f654be/access-control-mode/J2/door-sensors', { timestamp: ts, 'door-sensor-1': false, 'door-sensor-2': true })).out
    expect(door.measurements.map(m => [m.datapoint_label, m.pin_position, m.value])).toEqual([['door-sensor', '1', 0], ['door-sensor', '2', 1]])
    const reader = run(record('tele/f2-e4fd45f654be/access-control-mode/J2/reader-1', { timestamp: ts, data: "b'\"Hello World\"'" })).out
    expect(reader.measurements).toHaveLength(1)
    expect(reader.measurements[0]?.value_text).toBe('"Hello World"')
    const motion = run(record('stat/f2-e4fd45f654be/alarm-mode/J1/motion-sensor-3', { timestamp: ts, status: true })).out
    expect(motion.measurements.map(m => [m.datapoint_label, m.pin_position, m.value])).toEqual([['motion-sensor-status', '3', 1]])
    for (const o of [door, reader, motion]) expect(o.deadLetters).toEqual([])
  })

  it('dead-letters an unknown controller with the registry code, the original record and its source', () => {
    const r = record(SENSOR_TOPIC, { timestamp: '2023-05-26 18:34:04.928538', data: '0AEA139201A4' }, 42)
    const key = sensorKey({ mac: 'e4fd45f654be', connector: 1, pin: 1 })
    const { out } = run(r, new Map([[key, fail(ErrorCodes.REGISTRY_UNKNOWN_CONTROLLER, 'unknown controller')]]))
    expect(out.measurements).toEqual([])
    expect(out.deadLetters.map(d => d.reason)).toEqual([ErrorCodes.REGISTRY_UNKNOWN_CONTROLLER])
    const dl = decodeDeadLetter(out.deadLetters[0]?.value as Buffer)
    expect(dl.ok).toBe(true)
    if (!dl.ok) return
    expect(dl.value).toMatchObject({ stage: 'processor', source: { topic: 'raw', partition: 2, offset: '42' }, mqtt_topic: SENSOR_TOPIC })
    expect(Buffer.from(deadLetterValue(dl.value)).equals(r.value as Buffer)).toBe(true)
  })

  it('dead-letters a payload nested deeper than JSON.stringify can follow, without throwing', () => {
    const deep = `{"timestamp": "2023-05-26 18:34:04.928538", "data": ${'['.repeat(200_000)}${']'.repeat(200_000)}}`
    const value = encodeEnvelopeOf({ topic: SENSOR_TOPIC, payload: Buffer.from(deep), receivedAtMs: NOW, qos: 1, retain: false })
    const r: SourceRecord = { topic: 'raw', partition: 0, offset: 1n, key: Buffer.from('e4fd45f654be'), value }
    const { out } = run(r, new Map([[sensorKey({ mac: 'e4fd45f654be', connector: 1, pin: 1 }), fail(ErrorCodes.REGISTRY_UNKNOWN_CONTROLLER, 'unknown controller')]]))
    expect(out.measurements).toEqual([])
    expect(out.deadLetters).toHaveLength(1)
    const dl = decodeDeadLetter(out.deadLetters[0]?.value as Buffer)
    expect(dl.ok && dl.value.message_key).toMatch(/^[0-9a-f]{32}$/)
  })

  it("keys a dead letter by the device's message, so a redelivered copy (another receive time, offset) gets the same key", () => {
    const payload = { timestamp: '2023-05-26 18:34:04.928538', data: '0AEA139201A4' }
    const sensors = new Map([[sensorKey({ mac: 'e4fd45f654be', connector: 1, pin: 1 }), fail(ErrorCodes.REGISTRY_UNKNOWN_CONTROLLER, 'unknown controller')]])
    const first = record(SENSOR_TOPIC, payload, 42)
    const again = { ...record(SENSOR_TOPIC, payload, 43), value: encodeEnvelope(buildEnvelope({ topic: SENSOR_TOPIC, payload: Buffer.from(JSON.stringify(payload)), receivedAtMs: NOW + 5000, qos: 1, retain: false })) }
    const other = record(SENSOR_TOPIC, { ...payload, data: '0AEA139201A5' }, 44)
    const keyOf = (r: SourceRecord): string | undefined => {
      const dl = decodeDeadLetter(run(r, sensors).out.deadLetters[0]?.value as Buffer)
      return dl.ok ? dl.value.message_key : undefined
    }
    expect(keyOf(first)).toMatch(/^[0-9a-f]{32}$/)
    expect(keyOf(again)).toBe(keyOf(first))
    expect(keyOf(other)).not.toBe(keyOf(first))
  })

  it('dead-letters an invalid timestamp, an undecodable envelope and an empty record', () => {
    expect(run(record(SENSOR_TOPIC.replace('tele', 'stat').replace('sensor-mode/J1/sensor-1', 'alarm-mode/J1/siren-1'), { timestamp: 'yesterday', status: true })).out.deadLetters.map(d => d.reason))
      .toEqual([ErrorCodes.TIMESTAMP_INVALID])
    const garbage: SourceRecord = { topic: 'raw', partition: 0, offset: 1n, key: null, value: Buffer.from('{not json') }
    expect(run(garbage).out.deadLetters.map(d => d.reason)).toEqual([ErrorCodes.ENVELOPE_INVALID])
    const empty: SourceRecord = { topic: 'raw', partition: 0, offset: 2n, key: null, value: null }
    expect(run(empty).out.deadLetters.map(d => d.reason)).toEqual([ErrorCodes.ENVELOPE_INVALID])
  })

  it('produces the good points of a partly failed frame and dead-letters the rest once', () => {
    const key = sensorKey({ mac: 'e4fd45f654be', connector: 1, pin: 1 })
    const wider: SensorDefinition = { ...LIVING_ROOM, dataPoints: [...LIVING_ROOM.dataPoints, dp(9, 'Pressure', 'Uint16', 10, 0, ' hPa')] }
    const { out } = run(record(SENSOR_TOPIC, { timestamp: '2023-05-26 18:34:04.928538', data: '0AEA139201A4' }), new Map([[key, ok(wider)]]))
    expect(out.measurements.map(m => m.datapoint_label)).toEqual(['Temperature', 'Humidity', 'CO2'])
    expect(out.deadLetters.map(d => d.reason)).toEqual([ErrorCodes.DATAPOINT_OUT_OF_RANGE])
  })

  it('never throws and always yields an output, whatever the bytes', () => {
    for (let i = 0; i < 300; i++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(Math.random() * 64) }, () => Math.floor(Math.random() * 256)))
      const { out } = run({ topic: 'raw', partition: 0, offset: BigInt(i), key: null, value: bytes })
      expect(out.measurements.length + out.deadLetters.length).toBeGreaterThan(0)
    }
  })
})
