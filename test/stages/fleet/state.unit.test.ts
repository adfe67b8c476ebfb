import { describe, expect, it } from 'vitest'
import { valueKey } from '../../../src/core/activity.ts'
import { formatIso } from '../../../src/core/timestamp.ts'
import { FleetState, type LastValue } from '../../../src/stages/fleet/state.ts'
import { BUCKET_MS, HourWindow } from '../../../src/stages/fleet/window.ts'

const T = Date.UTC(2026, 0, 1, 12, 0, 0)
const A = 'e4fd45f654be'
const fleet = () => new FleetState({ defaultIntervalS: 10, offlineAfterIntervals: 3, maxValuesPerDevice: 3 })
const seen = (s: FleetState, at: number, now = at, mode: string | null = 'sensor-mode') => s.seen(A, at, mode, now)
const value = (label: string, v: number, at: number): LastValue =>
  ({ connector: 1, connector_mode: 'sensor-mode', datapoint_label: label, pin_position: '1', value: v, value_text: null, unit: '', timestamp: formatIso(at) })

describe('fleet state', () => {
  it('a first message makes a controller online, silence past interval × multiple offline, dated at the threshold', () => {
    const s = fleet()
    seen(s, T)
    expect(s.takeEvents()).toEqual([{ device_id: A, time: formatIso(T), online: true, reason: 'message' }])
    expect(s.tick(T + 30_000)).toBe(0) // exactly at the threshold: still online
    expect(s.tick(T + 30_001)).toBe(1)
    expect(s.takeEvents()).toEqual([{ device_id: A, time: formatIso(T + 30_000), online: false, reason: 'silent' }])
    expect(s.record(A, T + 31_000)).toMatchObject({ online: false, offline_reason: 'silent', since: formatIso(T + 30_000), last_seen: formatIso(T) })
    seen(s, T + 40_000)
    expect(s.takeEvents()).toEqual([{ device_id: A, time: formatIso(T + 40_000), online: true, reason: 'message' }])
    expect(s.record(A, T + 40_000)).toMatchObject({ online: true, offline_reason: null })
  })

  it('a will makes it offline at once; only a message newer than the will brings it back', () => {
    const s = fleet()
    seen(s, T)
    s.will(A, T + 1000, T + 1000)
    expect(s.record(A, T + 1000)).toMatchObject({ online: false, offline_reason: 'will', since: formatIso(T + 1000) })
    seen(s, T + 500, T + 1100) // older than the will (late delivery): last_seen only
    expect(s.record(A, T + 1100)?.online).toBe(false)
    seen(s, T + 2000)
    expect(s.takeEvents().map(e => [e.online, e.reason])).toEqual([[true, 'message'], [false, 'will'], [true, 'message']])
    // A will older than the newest message is stale.
    s.will(A, T + 1500, T + 2100)
    expect(s.record(A, T + 2100)?.online).toBe(true)
  })

  it('a backlog older than the threshold moves last_seen but does not flip the state', () => {
    const s = fleet()
    seen(s, T, T + 60_000)
    expect(s.record(A, T + 60_000)).toMatchObject({ online: false, last_seen: formatIso(T) })
    expect(s.takeEvents()).toEqual([])
  })

  it('the registry adds controllers (offline, never seen) and sets their interval; null = the default', () => {
    const s = fleet()
    s.setRegistry(new Map([[A, 60], ['0123456789ab', null]]), T)
    expect(s.takeDirty(T, true).map(r => [r.device_id, r.online, r.offline_reason, r.last_seen, r.expected_interval_s]))
      .toEqual([[A, false, 'silent', null, 60], ['0123456789ab', false, 'silent', null, 10]])
    seen(s, T)
    expect(s.tick(T + 180_000)).toBe(0)
    expect(s.tick(T + 180_001)).toBe(1)
  })

  it('keeps the newest reading per data point, bounded per controller, and counts rows and dead letters of the hour', () => {
    const s = fleet()
    s.readings(A, [value('t', 1, T + 2)], 1, T)
    s.readings(A, [value('t', 0, T + 1), value('h', 5, T)], 2, T) // 't': older device time, kept out
    s.readings(A, [value('p', 7, T), value('x', 9, T)], 2, T) // 'x': a fourth data point, over the bound
    s.readings(A, [], 3, T) // rows whose values did not fit in the activity record: counted only
    s.deadLetter(A, T)
    const r = s.record(A, T)
    expect(r?.last_values.map(v => [v.datapoint_label, v.value])).toEqual([['t', 1], ['h', 5], ['p', 7]])
    expect([r?.rows_last_hour, r?.dead_letters_last_hour]).toEqual([8, 1])
    expect(s.record(A, T + 3_600_000 + BUCKET_MS)?.rows_last_hour).toBe(0)
  })

  it('takes a reading\'s data point key when given: the same last values as without', () => {
    const readings = [value('t', 1, T + 1), value('h', 5, T), value('t', 0, T)]
    const withKeys = fleet()
    const without = fleet()
    withKeys.readings(A, readings, 3, T, readings.map(valueKey))
    without.readings(A, readings, 3, T)
    expect(withKeys.record(A, T)?.last_values).toEqual([value('t', 1, T + 1), value('h', 5, T)])
    expect(withKeys.record(A, T)).toEqual(without.record(A, T))
  })

  it('last seen: written to the microsecond, and read back so from a stored record', () => {
    const s = fleet()
    const at = T + 0.123
    seen(s, at)
    const stored = s.takeDirty(at)
    expect(stored[0]?.last_seen).toBe(formatIso(T).replace('000000Z', '000123Z'))
    const again = fleet()
    again.restore(stored, at)
    seen(again, at) // the same message read again: nothing changes
    expect(again.dirty).toBe(0)
  })

  it('keeps only a last value\'s own fields of a measurement', () => {
    const s = fleet()
    const m = { ...value('t', 1, T), device_id: A, topic: 'tele/x', sensor_device_id: 3, datapoint_id: 4, received_at: formatIso(T) }
    s.readings(A, [m], 1, T)
    expect(s.record(A, T)?.last_values).toEqual([value('t', 1, T)])
  })

  it('hands out changes once: urgent (state changes) apart from the rest; requeue after a failed flush', () => {
    const s = fleet()
    seen(s, T)
    s.readings('0123456789ab', [value('t', 1, T)], 1, T)
    expect(s.urgent).toBe(2)
    const urgent = s.takeDirty(T, true)
    expect(urgent.map(r => r.device_id).sort()).toEqual(['0123456789ab', A].sort())
    expect(s.takeDirty(T)).toEqual([])
    seen(s, T + 1000)
    const regular = s.takeDirty(T + 1000)
    expect(regular.map(r => r.device_id)).toEqual([A])
    s.requeue(regular, [])
    expect(s.takeDirty(T + 1000).map(r => r.device_id)).toEqual([A])
  })

  it('restores stored records, counts included until their hour is over, and rewrites what the moving hour changed', () => {
    const s = fleet()
    seen(s, T)
    s.readings(A, [value('t', 1, T)], 1, T)
    const stored = s.takeDirty(T)
    const again = fleet()
    again.restore(stored, T + 1000)
    expect(again.record(A, T + 1000)).toMatchObject({ online: true, rows_last_hour: 1, last_values: [value('t', 1, T)] })
    expect(again.touchCounted(T + 1000)).toBe(0)
    expect(again.touchCounted(T + 3_600_001)).toBe(1)
    expect(again.record(A, T + 3_600_001)?.rows_last_hour).toBe(0)
    expect(again.tick(T + 30_001)).toBe(1)
  })
})

describe('hour window', () => {
  it('sums the twelve newest five-minute buckets', () => {
    const w = new HourWindow()
    w.add(T, 2)
    w.add(T + BUCKET_MS, 3)
    expect(w.sum(T + BUCKET_MS)).toBe(5)
    expect(w.sum(T + 12 * BUCKET_MS)).toBe(3)
    expect(w.sum(T + 13 * BUCKET_MS)).toBe(0)
    w.add(T + 12 * BUCKET_MS) // reuses the first bucket's slot
    expect(w.sum(T + 12 * BUCKET_MS)).toBe(4)
  })
})
