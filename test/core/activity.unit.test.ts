import { describe, expect, it } from 'vitest'
import { activityHead, decodeActivities, encodeActivities, encodeActivity, type ActivityHead, type LastValue, type ReadActivity } from '../../src/core/activity.ts'
import type { Measurement } from '../../src/core/measurement.ts'
import { buildEnvelope, decodeEnvelope, type RawEnvelope } from '../../src/core/envelope.ts'
import { measurement } from '../../harness/measurement.ts'

const envelope = (topic: string, payload: string, retain = false): RawEnvelope => {
  const e = decodeEnvelope(Buffer.from(JSON.stringify(buildEnvelope({ topic, payload: Buffer.from(payload), receivedAtMs: Date.UTC(2026, 0, 1), qos: 1, retain }))))
  if (!e.ok) throw new Error(e.error.message)
  return e.value
}

const lastValue = (m: Measurement): LastValue => ({
  connector: m.connector, connector_mode: m.connector_mode, datapoint_label: m.datapoint_label, pin_position: m.pin_position,
  value: m.value, value_text: m.value_text, unit: m.unit, timestamp: m.timestamp
})

const HEAD: ActivityHead = { device_id: 'e4fd45f654be', received_at: '2026-01-01T00:00:00.000000Z', mode: 'sensor-mode', presence: null, retained: false }

describe('device activity', () => {
  it('head: controller, receipt time and mode, also for a message that cannot be decoded', () => {
    expect(activityHead(envelope('tele/f2-E4FD45F654BE/sensor-mode/J1/sensor-1', 'garbage'), null)).toEqual(HEAD)
    expect(activityHead(envelope('tele/f2-e4fd45f654be/beacon/J1/ble-1', '{}'), null)?.mode).toBeNull()
    expect(activityHead(envelope('stat/F2-E4:FD:45:F6:54:BE/alarm-mode/J2/siren-1', '{}'), null)).toMatchObject({ device_id: 'e4fd45f654be', mode: 'alarm-mode' })
  })

  it('head: a presence message, live or retained; the presence is only kept on a presence topic', () => {
    expect(activityHead(envelope('tele/f2-e4fd45f654be/LWT', 'Offline'), 'offline')).toMatchObject({ device_id: 'e4fd45f654be', presence: 'offline', mode: null, retained: false })
    expect(activityHead(envelope('tele/f2-e4fd45f654be/LWT', 'online', true), 'online')).toMatchObject({ presence: 'online', retained: true })
    expect(activityHead(envelope('tele/f2-e4fd45f654be/sensor-mode/J1/sensor-1', 'x'), 'offline')?.presence).toBeNull()
  })

  it('head: nothing to attribute → null', () => {
    expect(activityHead(envelope('devices/x/y', '{}'), null)).toBeNull()
    expect(activityHead({ ...envelope('tele/f2-e4fd45f654be/LWT', 'x'), timestamp: 'yesterday' }, null)).toBeNull()
  })

  it('round trip: activities in order, each measurement\'s last value positional, each field as it was', () => {
    const ms = [measurement(0), measurement(1, { datapoint_label: 'Humidity', value: null, value_text: 'n/a', connector: null })]
    const first = encodeActivity(HEAD, 2, ms)
    expect(JSON.parse(first)).toEqual({
      ...HEAD, rows: 2,
      values: [[1, 'sensor-mode', 'Temperature', '1', 20, null, '°C', '2024-05-01T00:00:00.000000Z'], [null, 'sensor-mode', 'Humidity', '1', null, 'n/a', '°C', '2024-05-01T00:00:01.000000Z']]
    })
    const second = encodeActivity({ ...HEAD, mode: null, presence: 'offline', retained: true }, 0, [])
    const value = encodeActivities([first, second])
    expect(JSON.parse(value.toString())).toEqual({ schema_version: 1, activities: [JSON.parse(first), JSON.parse(second)] })
    expect(decodeActivities(value)).toEqual({
      activities: [
        { ...HEAD, rows: 2, values: ms.map(lastValue), receivedMs: Date.UTC(2026, 0, 1) },
        { ...HEAD, mode: null, presence: 'offline', retained: true, rows: 0, values: [], receivedMs: Date.UTC(2026, 0, 1) }
      ] satisfies ReadActivity[],
      invalid: 0
    })
    expect(decodeActivities(encodeActivities([]))).toEqual({ activities: [], invalid: 0 })
  })

  it('encode: the same text as JSON.stringify of the record, for awkward strings and numbers', () => {
    const strings = ['', 'a"b', 'back\\slash', 'line\nbreak', '\u0000\u001f', 'é°C', '\ud83d\ude00', '\ud800', '</script>']
    const numbers = [0, -0, 1.5, -273.15, 1e21, 5e-324, Number.MAX_VALUE, 123456789012345680000]
    for (let i = 0; i < strings.length * numbers.length; i++) {
      const str = strings[i % strings.length] as string
      const v: LastValue = {
        connector: i % 3 === 0 ? null : i % 5, connector_mode: str, datapoint_label: `L${str}`, pin_position: str, value: i % 4 === 0 ? null : numbers[i % numbers.length] as number,
        value_text: i % 2 === 0 ? null : str, unit: str, timestamp: '2026-01-01T00:00:00.000000Z'
      }
      const head: ActivityHead = { ...HEAD, received_at: `${HEAD.received_at}${str}`, mode: i % 2 === 0 ? null : 'alarm-mode', presence: i % 3 === 0 ? 'online' : null, retained: i % 2 === 0 }
      const object = { ...head, rows: i, values: [v, v].map(x => [x.connector, x.connector_mode, x.datapoint_label, x.pin_position, x.value, x.value_text, x.unit, x.timestamp]) }
      expect(encodeActivity(head, i, [v, v])).toBe(JSON.stringify(object))
    }
    expect(encodeActivity(HEAD, 0, [])).toBe(JSON.stringify({ ...HEAD, rows: 0, values: [] }))
  })

  it('decode: an entry that is not an activity is counted and skipped; a record that is not one → null', () => {
    const ok = JSON.parse(encodeActivity(HEAD, 1, [measurement(0)])) as Record<string, unknown>
    const v = (ok.values as unknown[][])[0] as unknown[]
    const withValue = (i: number, x: unknown): unknown[] => v.map((f, j) => j === i ? x : f)
    const bad: Array<Record<string, unknown>> = [
      { ...ok, device_id: 'nope' },
      { ...ok, received_at: 'later' },
      { ...ok, mode: 'party-mode' },
      { ...ok, presence: 'maybe' },
      { ...ok, retained: 'no' },
      { ...ok, rows: -1 },
      { ...ok, rows: 1.5 },
      { ...ok, values: {} },
      { ...ok, values: [measurement(0)] },
      { ...ok, values: [v.slice(1)] },
      { ...ok, values: [withValue(0, 1.5)] },
      { ...ok, values: [withValue(1, null)] },
      { ...ok, values: [withValue(2, 3)] },
      { ...ok, values: [withValue(3, 1)] },
      { ...ok, values: [withValue(4, 'x')] },
      { ...ok, values: [withValue(5, 0)] },
      { ...ok, values: [withValue(6, null)] },
      { ...ok, values: [withValue(7, '2024-05-01 00:00:00')] }
    ]
    for (const b of bad) {
      const r = decodeActivities(encodeActivities([JSON.stringify(ok), JSON.stringify(b), JSON.stringify(ok)]))
      expect(r?.invalid, JSON.stringify(b).slice(0, 80)).toBe(1)
      expect(r?.activities).toHaveLength(2)
    }
    expect(decodeActivities(encodeActivities(['1', 'null', '"x"']))).toEqual({ activities: [], invalid: 3 })
    for (const record of ['{', 'null', '[]', '{"schema_version":2,"activities":[]}', '{"schema_version":1}', '{"schema_version":1,"activities":{}}']) {
      expect(decodeActivities(Buffer.from(record)), record).toBeNull()
    }
    expect(decodeActivities(null)).toBeNull()
    expect(decodeActivities(Buffer.alloc(0))).toBeNull()
  })
})
