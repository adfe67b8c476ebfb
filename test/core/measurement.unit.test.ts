import { describe, expect, it } from 'vitest'
import { ErrorCodes } from '../../src/core/errors.ts'
import { parseMeasurement, type Measurement } from '../../src/core/measurement.ts'
import { measurement } from '../../harness/measurement.ts'

const full: Measurement = measurement(0, { timestamp: '2023-05-26T18:34:04.928538Z', value: -5.25, received_at: '2023-05-26T18:34:05.000000Z' })

describe('parseMeasurement', () => {
  it('accepts its own output unchanged (one schema for processor output and sink input)', () => {
    expect(parseMeasurement(full)).toEqual({ ok: true, value: full })
    const again = parseMeasurement(JSON.parse(JSON.stringify(full)))
    expect(again).toEqual({ ok: true, value: full })
  })

  it('applies the seed defaults and aliases', () => {
    const r = parseMeasurement({ timestamp: 1685126044.928538, mac_address: 'abc123def456', mode: 'sensor-mode', data_point_label: 'CO2', pin: 3, value: '412 ppm', original_topic: 't' })
    expect(r).toEqual({
      ok: true,
      value: {
        timestamp: '2023-05-26T18:34:04.928538Z', device_id: 'abc123def456', connector_mode: 'sensor-mode', datapoint_label: 'CO2', pin_position: '3',
        value: 412, unit: '', topic: 't', connector: null, value_text: null, sensor_device_id: null, datapoint_id: null, received_at: null
      }
    })
    const d = parseMeasurement({ timestamp: '2023-05-26T18:34:04Z', device_id: 'x' })
    expect(d.ok && d.value).toMatchObject({ connector_mode: 'unknown', datapoint_label: 'unknown', pin_position: '-1', value: null, unit: '', topic: '' })
  })

  it('the canonical name wins over its alias', () => {
    const r = parseMeasurement({ ...full, mac_address: 'other' })
    expect(r.ok && r.value.device_id).toBe('e4fd45f654be')
  })

  it.each([
    [27.93, 27.93], ['27.93 °C', 27.93], ['  -5.25C', -5.25], ['+3', 3], ['.5 V', 0.5], ['1e3 ppm', 1000], ['7.', 7],
    ['°C 27', null], ['abc', null], ['', null], [null, null], [undefined, null], [true, 1], [false, 0], [{}, null], ['NaN', null]
  ])('value %j → %j', (value, expected) => {
    const r = parseMeasurement({ ...full, value })
    expect(r.ok && r.value.value).toBe(expected)
  })

  it.each([[Number.NaN], [Number.POSITIVE_INFINITY], ['1e999 V']])('non-finite value %j is invalid', (value) => {
    const r = parseMeasurement({ ...full, value })
    expect(!r.ok && r.error.code).toBe(ErrorCodes.MEASUREMENT_INVALID)
  })

  it.each([
    ['2023-05-26 18:34:04.928538', '2023-05-26T18:34:04.928538Z'],
    ['2023-05-26T20:34:04.928538+02:00', '2023-05-26T18:34:04.928538Z'],
    ['1685126044.928538', '2023-05-26T18:34:04.928538Z'],
    [1685126044928, '2023-05-26T18:34:04.928000Z']
  ])('timestamp %j → %s', (timestamp, iso) => {
    const r = parseMeasurement({ ...full, timestamp })
    expect(r.ok && r.value.timestamp).toBe(iso)
  })

  it.each([[undefined], [null], ['garbage'], [''], [Number.NaN], [-1], ['1969-12-31 23:59:59']])('an unparseable timestamp %j is invalid, never "now"', (timestamp) => {
    const r = parseMeasurement({ ...full, timestamp })
    expect(!r.ok && r.error.code).toBe(ErrorCodes.MEASUREMENT_INVALID)
    expect(!r.ok && (r.error.details?.issues as Array<{ path: string }>)[0]?.path).toBe('timestamp')
  })

  it.each([
    [{ device_id: '' }], [{ device_id: undefined }], [{ device_id: 5 }], [{ connector: 6 }], [{ connector: 0 }], [{ connector: 1.5 }],
    [{ sensor_device_id: 'x' }], [{ datapoint_id: 1.2 }], [{ received_at: 'yesterday' }], [{ pin_position: {} }], [{ unit: 5 }]
  ])('rejects %j', (patch) => {
    const r = parseMeasurement({ ...full, ...patch })
    expect(!r.ok && r.error.code).toBe(ErrorCodes.MEASUREMENT_INVALID)
  })

  it.each([[null], ['x'], [[]], [42]])('rejects a non-object %j', (input) => {
    expect(parseMeasurement(input).ok).toBe(false)
  })

  it('drops unknown keys and converts a numeric pin to a string', () => {
    const r = parseMeasurement({ ...full, pin_position: 2, extra: 'x' })
    expect(r.ok && r.value.pin_position).toBe('2')
    expect(r.ok && 'extra' in r.value).toBe(false)
  })
})
