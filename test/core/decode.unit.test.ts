import { describe, expect, it } from 'vitest'
import { ErrorCodes } from '../../src/core/errors.ts'
import { decodeMessage, needsSensor, outsideWindow, type DecodeOutput } from '../../src/core/decode.ts'
import { buildEnvelope } from '../../src/core/envelope.ts'
import { parseTopic, type F2Topic } from '../../src/core/topic.ts'
import { encodeSensorFrame, type SensorDefinition } from '../../src/core/sensor.ts'
import { toHex } from '../../src/core/hex.ts'
import { BEDROOM, KITCHEN, LIVING_ROOM } from './helpers/registry.ts'

const MAC = 'e4fd45f654be'
const TS = '2023-05-26 18:34:04.928538'
const ISO = '2023-05-26T18:34:04.928538Z'
const RECEIVED = 1685126045000

function topicOf (s: string): F2Topic {
  const r = parseTopic(s)
  if (!r.ok) throw new Error(r.error.message)
  return r.value
}

function run (topic: string, payload: string | Uint8Array, sensor: SensorDefinition | null = null, zone = 'UTC'): DecodeOutput {
  const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload
  const envelope = buildEnvelope({ topic, payload: bytes, receivedAtMs: RECEIVED, qos: 1, retain: false })
  return decodeMessage({ envelope, topic: topicOf(topic), sensor, zone })
}

const rows = (o: DecodeOutput) => o.measurements.map(m => [m.datapoint_label, m.pin_position, m.value, m.value_text, m.unit])
const codes = (o: DecodeOutput) => o.failures.map(f => f.code)

describe('every payload example of f2-protocol.md', () => {
  it('strike status', () => {
    const topic = `stat/f2-${MAC}/access-control-mode/J2/strike-1`
    const out = run(topic, `{"timestamp": "${TS}", "status": true}`)
    expect(codes(out)).toEqual([])
    expect(out.measurements).toEqual([{
      timestamp: ISO, device_id: MAC, connector_mode: 'access-control-mode', datapoint_label: 'strike-status', pin_position: '1',
      value: 1, unit: '', topic, connector: 2, value_text: null, sensor_device_id: null, datapoint_id: null, received_at: '2023-05-26T18:34:05.000000Z'
    }])
  })

  it('door sensors: one measurement per sensor', () => {
    const out = run(`stat/f2-${MAC}/access-control-mode/J2/door-sensors`, `{"timestamp": "${TS}", "door-sensor-1": false, "door-sensor-2": true}`)
    expect(rows(out)).toEqual([['door-sensor', '1', 0, null, ''], ['door-sensor', '2', 1, null, '']])
    expect(out.measurements.every(m => m.connector === 2 && m.timestamp === ISO)).toBe(true)
  })

  it('exit buttons', () => {
    const out = run(`stat/f2-${MAC}/access-control-mode/J2/exit-buttons`, `{"timestamp": "${TS}", "exit-button-1": false, "exit-button-2": false}`)
    expect(rows(out)).toEqual([['exit-button', '1', 0, null, ''], ['exit-button', '2', 0, null, '']])
  })

  it('reader scan: value null, the scanned string in value_text', () => {
    const out = run(`tele/f2-${MAC}/access-control-mode/J2/reader-1`, JSON.stringify({ timestamp: TS, data: `b'"Hello World"'` }))
    expect(rows(out)).toEqual([['scan', '1', null, '"Hello World"', '']])
  })

  it('reader LED reply frame: recognised, not a scan', () => {
    const out = run(`tele/f2-${MAC}/access-control-mode/J2/reader-2`, JSON.stringify({ timestamp: TS, data: "b'\\x02\\x02\\x01\\x00\\x00\\x00\\x03\\x03'" }))
    expect(rows(out)).toEqual([['reader-frame', '2', null, '02 02 01 00 00 00 03 03', '']])
  })

  it('siren status and motion sensor status', () => {
    expect(rows(run(`stat/f2-${MAC}/alarm-mode/J1/siren-1`, `{"timestamp": "${TS}", "status": false}`))).toEqual([['siren-status', '1', 0, null, '']])
    expect(rows(run(`stat/f2-${MAC}/alarm-mode/J1/motion-sensor-1`, `{"timestamp": "${TS}", "status": true}`))).toEqual([['motion-sensor-status', '1', 1, null, '']])
  })

  it('RS-485 sensor: one measurement per data point, with the registry ids', () => {
    const data = toHex(encodeSensorFrame(BEDROOM.dataPoints, { Temperature: 21.37, Humidity: 55.5, CO2: 640 }))
    const out = run(`tele/f2-123456abcdef/sensor-mode/J4/sensor-3`, JSON.stringify({ timestamp: TS, data }), BEDROOM)
    expect(codes(out)).toEqual([])
    expect(rows(out)).toEqual([['Temperature', '3', 21.37, null, '°C'], ['Humidity', '3', 55.5, null, '%'], ['CO2', '3', 640, null, 'ppm']])
    expect(out.measurements.map(m => [m.sensor_device_id, m.datapoint_id, m.connector, m.device_id])).toEqual([[6, 1, 4, '123456abcdef'], [6, 2, 4, '123456abcdef'], [6, 3, 4, '123456abcdef']])
  })

  it('the spec hex example decodes raw (01 03 → 2.59 °C, 0C 32 → 31.22 %, 30 32 → 12338 ppm) — it is not a valid Modbus frame', () => {
    const out = run(`tele/f2-${MAC}/sensor-mode/J1/sensor-1`, JSON.stringify({ timestamp: TS, data: '01 03 0C 32 30 32 30 36 32 38 30 31 30 31 5B 18 28 01' }), LIVING_ROOM)
    expect(rows(out)).toEqual([['Temperature', '1', 2.59, null, '°C'], ['Humidity', '1', 31.22, null, '%'], ['CO2', '1', 12338, null, 'ppm']])
    const modbus = { ...LIVING_ROOM, dataPoints: LIVING_ROOM.dataPoints.map(d => ({ ...d, dataEncoding: 'modbus-rtu' })) }
    const bad = run(`tele/f2-${MAC}/sensor-mode/J1/sensor-1`, JSON.stringify({ timestamp: TS, data: '01 03 0C 32 30 32 30 36 32 38 30 31 30 31 5B 18 28 01' }), modbus)
    expect(codes(bad)).toEqual([ErrorCodes.MODBUS_FRAME_INVALID])
    expect(bad.measurements).toEqual([])
  })

  it('Kitchen power monitor', () => {
    const data = toHex(encodeSensorFrame(KITCHEN.dataPoints, { Voltage: 230.4, Current: -1.234 }), false)
    expect(rows(run('tele/f2-abc123def456/sensor-mode/J2/sensor-2', JSON.stringify({ timestamp: TS, data }), KITCHEN)))
      .toEqual([['Voltage', '2', 230.4, null, 'V'], ['Current', '2', -1.234, null, 'A']])
  })
})

describe('commands and cmnd/ topics', () => {
  it.each([
    [`cmnd/f2-${MAC}/access-control-mode/J2/strike-1`, '{"power-flag": 2, "period": 3}'],
    [`cmnd/f2-${MAC}/access-control-mode/J2/strike-1`, ''],
    [`cmnd/f2-${MAC}/access-control-mode/J2/reader-1/success`, '1'],
    [`cmnd/f2-${MAC}/access-control-mode/J2/reader-1/success`, '3'],
    [`cmnd/f2-${MAC}/alarm-mode/J1/siren-1`, '1'],
    [`cmnd/f2-${MAC}/alarm-mode/J1/siren-1`, '0'],
    [`cmnd/f2-${MAC}/alarm-mode/J1/siren-1`, ''],
    [`cmnd/f2-${MAC}/sensor-mode/J1/sensor-1`, '  ']
  ])('%s %j is a command', (topic, payload) => {
    expect(codes(run(topic, payload))).toEqual([ErrorCodes.PAYLOAD_COMMAND])
  })

  it('a reading published on cmnd/ (the seed simulator) decodes like tele', () => {
    const out = run(`cmnd/f2-${MAC}/sensor-mode/1/sensor-1`, JSON.stringify({ timestamp: '2023-05-26T18:34:04.928538', data: '0x12a' }), LIVING_ROOM)
    expect(rows(out)).toEqual([['Temperature', '1', 2.98, null, '°C']])
    expect(codes(out)).toEqual([ErrorCodes.DATAPOINT_OUT_OF_RANGE, ErrorCodes.DATAPOINT_OUT_OF_RANGE])
    expect(out.failures[0]?.details).toMatchObject({ label: 'Humidity' })
  })

  it('needsSensor', () => {
    expect(needsSensor(topicOf(`tele/f2-${MAC}/sensor-mode/J1/sensor-1`))).toBe(true)
    expect(needsSensor(topicOf(`cmnd/f2-${MAC}/sensor-mode/J1/sensor-1`))).toBe(true)
    expect(needsSensor(topicOf(`stat/f2-${MAC}/alarm-mode/J1/siren-1`))).toBe(false)
  })
})

describe('timestamps', () => {
  it('naive device time is read in the configured zone', () => {
    const out = run(`stat/f2-${MAC}/alarm-mode/J1/siren-1`, `{"timestamp": "${TS}", "status": true}`, null, 'Europe/Berlin')
    expect(out.measurements[0]?.timestamp).toBe('2023-05-26T16:34:04.928538Z')
  })

  it.each([
    ['{"status": true}'], ['{"timestamp": null, "status": true}'], ['{"timestamp": "yesterday", "status": true}'], ['{"timestamp": "", "status": true}'], ['{"timestamp": -5, "status": true}']
  ])('missing or invalid → F2_TIMESTAMP_INVALID, never "now": %s', (payload) => {
    const out = run(`stat/f2-${MAC}/alarm-mode/J1/siren-1`, payload)
    expect(codes(out)).toEqual([ErrorCodes.TIMESTAMP_INVALID])
    expect(out.measurements).toEqual([])
  })

  it('epoch seconds are accepted', () => {
    const out = run(`stat/f2-${MAC}/alarm-mode/J1/siren-1`, '{"timestamp": 1685126044.928538, "status": true}')
    expect(out.measurements[0]?.timestamp).toBe(ISO)
  })
})

describe('invalid payloads', () => {
  const siren = `stat/f2-${MAC}/alarm-mode/J1/siren-1`
  it.each([
    [siren, 'not json', ErrorCodes.PAYLOAD_NOT_JSON],
    [siren, Uint8Array.from([0xff, 0xfe]), ErrorCodes.PAYLOAD_NOT_JSON],
    [siren, '', ErrorCodes.PAYLOAD_NOT_JSON],
    [siren, '1', ErrorCodes.PAYLOAD_INVALID],
    [siren, '[1]', ErrorCodes.PAYLOAD_INVALID],
    [siren, 'null', ErrorCodes.PAYLOAD_INVALID],
    [siren, `{"timestamp": "${TS}"}`, ErrorCodes.PAYLOAD_INVALID],
    [siren, `{"timestamp": "${TS}", "status": "on"}`, ErrorCodes.PAYLOAD_INVALID],
    [siren, `{"timestamp": "${TS}", "status": 2}`, ErrorCodes.PAYLOAD_INVALID],
    [`stat/f2-${MAC}/access-control-mode/J2/door-sensors`, `{"timestamp": "${TS}"}`, ErrorCodes.PAYLOAD_INVALID],
    [`tele/f2-${MAC}/access-control-mode/J2/reader-1`, `{"timestamp": "${TS}", "data": 5}`, ErrorCodes.PAYLOAD_INVALID],
    [`tele/f2-${MAC}/access-control-mode/J2/reader-1`, `{"timestamp": "${TS}", "data": "Hello"}`, ErrorCodes.PAYLOAD_INVALID],
    [`tele/f2-${MAC}/sensor-mode/J1/sensor-1`, `{"timestamp": "${TS}", "data": "xyz"}`, ErrorCodes.HEX_INVALID],
    [`tele/f2-${MAC}/sensor-mode/J1/sensor-1`, `{"timestamp": "${TS}", "data": 298}`, ErrorCodes.PAYLOAD_INVALID]
  ])('%s %j → %s', (topic, payload, code) => {
    const out = run(topic, payload, LIVING_ROOM)
    expect(codes(out)).toEqual([code])
    expect(out.measurements).toEqual([])
  })

  it('a bad door sensor value fails alone', () => {
    const out = run(`stat/f2-${MAC}/access-control-mode/J2/door-sensors`, `{"timestamp": "${TS}", "door-sensor-1": "open", "door-sensor-2": true}`)
    expect(rows(out)).toEqual([['door-sensor', '2', 1, null, '']])
    expect(codes(out)).toEqual([ErrorCodes.PAYLOAD_INVALID])
  })

  it('sensor readings need a matching sensor definition', () => {
    const topic = `tele/f2-${MAC}/sensor-mode/J1/sensor-1`
    const payload = JSON.stringify({ timestamp: TS, data: 'FD F3 17 70 01 9A' })
    expect(codes(run(topic, payload, null))).toEqual([ErrorCodes.REGISTRY_UNWIRED_PIN])
    expect(codes(run(topic, payload, KITCHEN))).toEqual([ErrorCodes.REGISTRY_UNWIRED_PIN])
    expect(codes(run(topic, payload, { ...LIVING_ROOM, dataPoints: [] }))).toEqual([ErrorCodes.REGISTRY_NO_DATAPOINTS])
    expect(codes(run(topic, payload, { ...LIVING_ROOM, controllerMac: 'E4:FD:45:F6:54:BE' }))).toEqual([])
  })
})

describe('time-series key', () => {
  it('distinct readings at one instant never share (timestamp, device_id, connector, connector_mode, datapoint_label, pin_position)', () => {
    const payloads: Array<[string, unknown, SensorDefinition | null]> = []
    for (const j of [1, 2, 3, 4]) {
      for (const p of [1, 2]) {
        payloads.push([`stat/f2-${MAC}/access-control-mode/J${j}/strike-${p}`, { timestamp: TS, status: true }, null])
        payloads.push([`tele/f2-${MAC}/access-control-mode/J${j}/reader-${p}`, { timestamp: TS, data: "b'abc'" }, null])
        payloads.push([`tele/f2-${MAC}/access-control-mode/J${j}/reader-${p}`, { timestamp: TS, data: "b'\\x02\\x00\\x03'" }, null])
        payloads.push([`stat/f2-${MAC}/alarm-mode/J${j}/siren-${p}`, { timestamp: TS, status: true }, null])
      }
      payloads.push([`stat/f2-${MAC}/access-control-mode/J${j}/door-sensors`, { timestamp: TS, 'door-sensor-1': true, 'door-sensor-2': true }, null])
      payloads.push([`stat/f2-${MAC}/access-control-mode/J${j}/exit-buttons`, { timestamp: TS, 'exit-button-1': true, 'exit-button-2': true }, null])
      for (let p = 1; p <= 5; p++) payloads.push([`stat/f2-${MAC}/alarm-mode/J${j}/motion-sensor-${p}`, { timestamp: TS, status: true }, null])
      for (let p = 1; p <= 6; p++) {
        payloads.push([`tele/f2-${MAC}/sensor-mode/J${j}/sensor-${p}`, { timestamp: TS, data: 'FD F3 17 70 01 9A' }, { ...LIVING_ROOM, connectorNumber: j, pinPosition: p }])
      }
    }
    const keys = new Set<string>()
    let count = 0
    for (const [topic, payload, sensor] of payloads) {
      const out = run(topic, JSON.stringify(payload), sensor)
      expect(out.failures).toEqual([])
      for (const m of out.measurements) {
        keys.add(JSON.stringify([m.timestamp, m.device_id, m.connector, m.connector_mode, m.datapoint_label, m.pin_position]))
        count++
      }
    }
    expect(count).toBe(4 * (2 * 4 + 2 + 2 + 5 + 6 * 3))
    expect(keys.size).toBe(count)
  })
})

describe('the device-time window around receipt', () => {
  const window = { maxAheadMs: 86_400_000, maxAgeMs: 365 * 86_400_000 }
  const at = (ms: number): string => JSON.stringify({ timestamp: ms / 1000, status: true })
  const decode = (ms: number) => {
    const topic = `stat/f2-${MAC}/alarm-mode/J1/siren-1`
    const envelope = buildEnvelope({ topic, payload: new TextEncoder().encode(at(ms)), receivedAtMs: RECEIVED, qos: 1, retain: false })
    return decodeMessage({ envelope, topic: topicOf(topic), sensor: null, zone: 'UTC', window })
  }

  it.each([
    ['at receipt', RECEIVED, true],
    ['exactly one day ahead', RECEIVED + 86_400_000, true],
    ['a second more than one day ahead', RECEIVED + 86_401_000, false],
    ['exactly 365 days old', RECEIVED - 365 * 86_400_000, true],
    ['a second older', RECEIVED - 365 * 86_400_000 - 1000, false],
    ['1970', 0, false]
  ])('%s: accepted %s', (_name, ms, accepted) => {
    const out = decode(ms as number)
    expect(codes(out)).toEqual(accepted === true ? [] : [ErrorCodes.TIMESTAMP_OUT_OF_WINDOW])
    expect(out.measurements).toHaveLength(accepted === true ? 1 : 0)
  })

  it('says which side, by how much and against which limit', () => {
    const ahead = outsideWindow({ iso: '2023-05-28T18:34:05.000000Z', epochMs: RECEIVED + 2 * 86_400_000 }, new Date(RECEIVED).toISOString(), window)
    expect(ahead).toMatchObject({ code: ErrorCodes.TIMESTAMP_OUT_OF_WINDOW, details: { side: 'ahead', offset_s: 172_800, limit_s: 86_400 } })
    expect(outsideWindow({ iso: '', epochMs: 0 }, 'not a time', window)).toBeNull()
  })

  it('is not applied without a window (the pure decoder accepts any valid instant)', () => {
    expect(codes(run(`stat/f2-${MAC}/alarm-mode/J1/siren-1`, at(0)))).toEqual([])
  })
})
