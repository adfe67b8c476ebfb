import { describe, expect, it } from 'vitest'
import { activityBound, activityHead, ActivityWriter, decodeActivities, EMPTY_ACTIVITY_RECORD_BYTES, receivedMsOf, valueKey, type Activity, type ActivityHead, type LastValue } from '../../src/core/activity.ts'
import type { Measurement } from '../../src/core/measurement.ts'
import { buildEnvelope, decodeEnvelope, type RawEnvelope } from '../../src/core/envelope.ts'
import { formatIso } from '../../src/core/timestamp.ts'
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

const HEAD: ActivityHead = { device_id: 'e4fd45f654be', receivedMs: Date.UTC(2026, 0, 1), mode: 'sensor-mode', presence: null, retained: false }

/** A record of these activities, checking that the writer's size is exact after each one. */
function record (entries: Array<[ActivityHead, number, LastValue[]]>): Buffer {
  const w = new ActivityWriter()
  expect(w.bytes).toBe(EMPTY_ACTIVITY_RECORD_BYTES)
  for (const [head, rows, values] of entries) {
    const before = w.bytes
    w.add(head, rows, values)
    expect(w.bytes - before).toBeLessThanOrEqual(activityBound(values))
    expect(w.finish().length).toBe(w.bytes)
  }
  expect(w.count).toBe(entries.length)
  return w.finish()
}

const expected = (head: ActivityHead, rows: number, values: LastValue[]): Activity => ({ ...head, rows, values, keys: values.map(valueKey) })

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

  it('receipt time: the microseconds of the canonical form are kept, and formatIso gives the same text back', () => {
    for (const iso of ['2026-11-30T12:00:00.123456Z', '2026-11-30T12:00:00.000001Z', '2026-11-30T23:59:59.999999Z', '1970-01-01T00:00:00.000000Z']) {
      expect(formatIso(receivedMsOf(iso))).toBe(iso)
    }
    expect(receivedMsOf('2026-11-30T12:00:00.123Z')).toBe(Date.UTC(2026, 10, 30, 12, 0, 0, 123))
    expect(receivedMsOf('yesterday')).toBeNaN()
  })

  it('round trip: activities in order, each field as it was; the values of one data point share their key', () => {
    const ms = [measurement(0), measurement(1, { datapoint_label: 'Humidity', value: null, value_text: 'n/a', connector: null }), measurement(2)]
    const second: ActivityHead = { ...HEAD, device_id: '0123456789ab', mode: null, presence: 'offline', retained: true, receivedMs: receivedMsOf('2026-11-30T12:00:00.123456Z') }
    const r = decodeActivities(record([[HEAD, 3, ms.map(lastValue)], [second, 0, []], [{ ...HEAD, presence: 'online', mode: 'alarm-mode' }, 1, [lastValue(ms[2] as Measurement)]]]))
    expect(r).toEqual({
      activities: [expected(HEAD, 3, ms.map(lastValue)), expected(second, 0, []), expected({ ...HEAD, presence: 'online', mode: 'alarm-mode' }, 1, [lastValue(ms[2] as Measurement)])],
      invalid: 0
    })
    const [a, , c] = r?.activities ?? []
    expect(a?.keys[0]).toBe(a?.keys[2])
    expect(a?.keys[0]).toBe(c?.keys[0])
    expect(decodeActivities(record([]))).toEqual({ activities: [], invalid: 0 })
  })

  it('round trip: awkward strings and numbers come back as they were', () => {
    const strings = ['', 'a"b', 'back\\slash', 'line\nbreak', '\u0000\u001f', 'é°C', '\ud83d\ude00', '\ud800', '</script>']
    const numbers = [0, -0, 1.5, -273.15, 1e21, 5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, 123456789012345680000]
    const entries: Array<[ActivityHead, number, LastValue[]]> = []
    for (let i = 0; i < strings.length * numbers.length; i++) {
      const str = strings[i % strings.length] as string
      const v: LastValue = {
        connector: i % 3 === 0 ? null : i % 5 - 2, connector_mode: str, datapoint_label: `L${str}`, pin_position: str, value: i % 4 === 0 ? null : numbers[i % numbers.length] as number,
        value_text: i % 2 === 0 ? null : str, unit: str, timestamp: formatIso(Date.UTC(2026, 0, 1) + i)
      }
      entries.push([{ ...HEAD, receivedMs: HEAD.receivedMs + i / 1000, mode: i % 2 === 0 ? null : 'alarm-mode', presence: i % 3 === 0 ? 'online' : null, retained: i % 2 === 0 }, i, [v, { ...v, value_text: str }]])
    }
    expect(decodeActivities(record(entries))).toEqual({ activities: entries.map(([h, rows, values]) => expected(h, rows, values)), invalid: 0 })
  })

  it('size: a record of a fleet\'s activities is about a third of the same as version 1 JSON', () => {
    const w = new ActivityWriter()
    const v1: unknown[] = []
    for (let i = 0; i < 250; i++) {
      const head: ActivityHead = { ...HEAD, device_id: (0xe4fd45f60000 + i * 7919).toString(16), receivedMs: HEAD.receivedMs + i * 3.7 }
      // Distinct device times (the worst case for the string table), one to three values.
      const values = [measurement(i), measurement(i, { datapoint_label: 'Humidity', unit: '%', value: 50.5 }), measurement(i, { pin_position: '2' })].slice(0, 1 + i % 3).map(lastValue)
      w.add(head, values.length, values)
      v1.push({ device_id: head.device_id, received_at: formatIso(head.receivedMs), mode: head.mode, presence: null, retained: false, rows: values.length, values: values.map(x => [x.connector, x.connector_mode, x.datapoint_label, x.pin_position, x.value, x.value_text, x.unit, x.timestamp]) })
    }
    const ratio = w.finish().length / Buffer.byteLength(JSON.stringify({ schema_version: 1, activities: v1 }))
    expect(ratio).toBeGreaterThan(0.25)
    expect(ratio).toBeLessThan(0.4)
  })

  it('write: a MAC that is not normalised, a receipt time or a row count that is not one → TypeError', () => {
    const w = new ActivityWriter()
    for (const head of [{ ...HEAD, device_id: 'E4FD45F654BE' }, { ...HEAD, device_id: 'e4fd45f654' }, { ...HEAD, receivedMs: Number.NaN }]) {
      expect(() => w.add(head, 0, [])).toThrow(TypeError)
    }
    expect(() => w.add(HEAD, -1, [])).toThrow(TypeError)
    expect(() => w.add(HEAD, 1.5, [])).toThrow(TypeError)
    expect(w.count).toBe(0)
  })

  it('decode: an activity with a field out of range is counted and skipped; a record that is not one → null', () => {
    const v = lastValue(measurement(0))
    // Three activities of one value each (25 + 20 bytes); the middle one starts 90 bytes from the end.
    const three = (middle: LastValue = v): Buffer => record([[HEAD, 1, [v]], [HEAD, 1, [middle]], [HEAD, 1, [v]]])
    const corrupt = (write: (b: Buffer, at: number) => void, middle?: LastValue): Buffer => {
      const b = Buffer.from(three(middle))
      write(b, b.length - 90)
      return b
    }
    const bad: Array<[string, Buffer]> = [
      ['receipt time NaN', corrupt((b, at) => b.writeDoubleLE(Number.NaN, at + 6))],
      ['receipt time infinite', corrupt((b, at) => b.writeDoubleLE(Number.POSITIVE_INFINITY, at + 6))],
      ['mode', corrupt((b, at) => { b[at + 14] = 3 })],
      ['presence', corrupt((b, at) => { b[at + 15] = 3 })],
      ['retained', corrupt((b, at) => { b[at + 16] = 2 })],
      ['data point', corrupt((b, at) => b.writeUInt32LE(7, at + 25))],
      ['value infinite', corrupt((b, at) => b.writeDoubleLE(Number.NEGATIVE_INFINITY, at + 29))],
      ['text', corrupt((b, at) => b.writeUInt32LE(99, at + 37))],
      ['device time index', corrupt((b, at) => b.writeUInt32LE(99, at + 41))],
      ['device time not canonical', three({ ...v, timestamp: '2024-05-01 00:00:00' })],
      ['connector not an integer', three({ ...v, connector: 1.5 })]
    ]
    for (const [what, b] of bad) {
      const r = decodeActivities(b)
      expect(r?.invalid, what).toBe(1)
      expect(r?.activities, what).toEqual([expected(HEAD, 1, [v]), expected(HEAD, 1, [v])])
    }
    const ok = three()
    const table = (json: string): Buffer => {
      const t = Buffer.from(json)
      const head = Buffer.alloc(5)
      head[0] = 2
      head.writeUInt32LE(t.length, 1)
      return Buffer.concat([head, t, Buffer.alloc(8)])
    }
    const notRecords: Array<[string, Buffer | null | undefined]> = [
      ['truncated', ok.subarray(0, ok.length - 1)],
      ['cut in the header', ok.subarray(0, 3)],
      ['trailing bytes', Buffer.concat([ok, Buffer.from([0])])],
      ['unknown version', Buffer.concat([Buffer.from([3]), ok.subarray(1)])],
      ['table longer than the record', (() => { const b = Buffer.from(ok); b.writeUInt32LE(1 << 30, 1); return b })()],
      ['table not JSON', table('["a"')],
      ['table not strings', table('["a",1]')],
      ['table not an array', table('{}')],
      ['empty', Buffer.alloc(0)],
      ['null', null],
      ['undefined', undefined]
    ]
    for (const [what, b] of notRecords) expect(decodeActivities(b), what).toBeNull()
    expect(decodeActivities(table('[]'))).toEqual({ activities: [], invalid: 0 })
  })

  it('decode: version 1 records (JSON, written before binary records) are still read', () => {
    const values = [lastValue(measurement(0)), lastValue(measurement(1, { value: null, value_text: 'n/a', connector: null }))]
    const v1 = { device_id: 'E4FD45F654BE', received_at: '2026-01-01T00:00:00.000000Z', mode: 'sensor-mode', presence: null, retained: false, rows: 2, values: values.map(x => [x.connector, x.connector_mode, x.datapoint_label, x.pin_position, x.value, x.value_text, x.unit, x.timestamp]) }
    const bad = [{ ...v1, device_id: 'nope' }, { ...v1, received_at: 'later' }, { ...v1, mode: 'party-mode' }, { ...v1, presence: 'maybe' }, { ...v1, retained: 'no' },
      { ...v1, rows: -1 }, { ...v1, values: {} }, { ...v1, values: [[1, 'sensor-mode']] }, { ...v1, values: [v1.values[0]?.map((f, j) => j === 7 ? '2024-05-01 00:00:00' : f)] }, 1, null]
    const r = decodeActivities(Buffer.from(JSON.stringify({ schema_version: 1, activities: [v1, ...bad, { ...v1, presence: 'offline', rows: 0, values: [] }] })))
    expect(r).toEqual({ activities: [expected(HEAD, 2, values), expected({ ...HEAD, presence: 'offline' }, 0, [])], invalid: bad.length })
    for (const json of ['{', 'null', '{"schema_version":3,"activities":[]}', '{"schema_version":1}', '{"schema_version":1,"activities":{}}']) {
      expect(decodeActivities(Buffer.from(json)), json).toBeNull()
    }
  })
})
