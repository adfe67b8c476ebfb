import { describe, expect, it } from 'vitest'
import { isCanonicalInstant } from '../../src/core/iso-instant.ts'
import { fastParseMeasurement, IotMeasurementSchema, parseMeasurement, type Measurement } from '../../src/core/measurement.ts'
import { parseTimestamp } from '../../src/core/timestamp.ts'
import { pick, prng, randInt } from './helpers/prng.ts'
import { measurement } from '../../harness/measurement.ts'

const pad = (n: number, w: number): string => String(n).padStart(w, '0')

function randomInstant (rnd: () => number): string {
  // Mostly valid canonical instants, with edge fields and a few broken characters.
  const year = pick(rnd, [1969, 1970, 1999, 2000, 2023, 2024, 2100, 9999, randInt(rnd, 1900, 2200)])
  const month = randInt(rnd, 0, 13)
  const day = randInt(rnd, 0, 32)
  let s = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(randInt(rnd, 0, 25), 2)}:${pad(randInt(rnd, 0, 61), 2)}:${pad(randInt(rnd, 0, 61), 2)}.${pad(randInt(rnd, 0, 999999), 6)}Z`
  const r = rnd()
  if (r < 0.05) s = s.slice(0, -1)
  else if (r < 0.1) s = s.replace('T', ' ')
  else if (r < 0.15) s = s.replace('Z', 'z')
  else if (r < 0.2) { const i = randInt(rnd, 0, s.length - 1); s = s.slice(0, i) + pick(rnd, ['x', '9', '-', ' ', ':']) + s.slice(i + 1) }
  else if (r < 0.22) s = ` ${s}`
  return s
}

describe('isCanonicalInstant', () => {
  it('is true exactly when parseTimestamp returns the string itself', () => {
    const rnd = prng(7)
    let canonical = 0
    for (let i = 0; i < 20_000; i++) {
      const s = randomInstant(rnd)
      const parsed = parseTimestamp(s, 'UTC')
      const same = parsed.ok && parsed.value.iso === s
      if (isCanonicalInstant(s)) {
        canonical++
        expect(same, s).toBe(true)
      } else if (same) {
        throw new Error(`canonical instant not recognised: ${s}`)
      }
    }
    expect(canonical).toBeGreaterThan(2000)
    for (const s of ['2024-02-29T00:00:00.000000Z', '2000-02-29T23:59:59.999999Z', '1970-01-01T00:00:00.000000Z', '9999-12-31T23:59:59.999999Z']) expect(isCanonicalInstant(s), s).toBe(true)
    for (const s of ['2023-02-29T00:00:00.000000Z', '1900-02-29T00:00:00.000000Z', '1969-12-31T23:59:59.999999Z', '2024-01-01T24:00:00.000000Z']) expect(isCanonicalInstant(s), s).toBe(false)
  })
})

const VALUES: Record<string, readonly unknown[]> = {
  timestamp: ['2023-05-26T18:34:04.928538Z', '2023-05-26 18:34:04.928538', '2023-05-26T18:34:04Z', 1685126044.5, 'nope', null, undefined, '2023-02-30T00:00:00.000000Z'],
  device_id: ['e4fd45f654be', ' e4fd ', '', 'x'.repeat(255), 'x'.repeat(256), 42, null, undefined, '\u00a0a'],
  connector_mode: ['sensor-mode', '', null, undefined, 3, {}],
  datapoint_label: ['Temperature', null, undefined, false],
  pin_position: ['1', '', 3, -0, 1.5, Number.NaN, Number.POSITIVE_INFINITY, null, undefined, true],
  value: [27.94, 0, -0, 1e308, Number.NaN, Number.NEGATIVE_INFINITY, true, false, null, undefined, '27.9 C', 'abc', {}, []],
  unit: ['°C', '', null, undefined, 1],
  topic: ['tele/f2-e4fd45f654be/sensor-mode/J1/sensor-1', null, undefined, []],
  connector: [1, 5, 0, 6, 2.5, '1', null, undefined, Number.NaN],
  value_text: ['scan', '', null, undefined, 0],
  sensor_device_id: [4, 0, -3, 2 ** 53, 2 ** 53 - 1, 1.5, '4', null, undefined],
  datapoint_id: [1, null, undefined, Number.POSITIVE_INFINITY, 2 ** 31],
  received_at: ['2023-05-26T18:34:05.000000Z', '2023-05-26 18:34:05', 0, null, undefined, 'later', '1969-12-31T23:59:59.000000Z'],
  mac_address: [undefined, undefined, undefined, 'abc123def456', null],
  mode: [undefined, undefined, undefined, 'alarm-mode'],
  pin: [undefined, undefined, undefined, 2],
  extra: [undefined, 'dropped', { nested: true }]
}

const canonical: Measurement = measurement(0, { timestamp: '2023-05-26T18:34:04.928538Z', value: -5.25, received_at: '2023-05-26T18:34:05.000000Z' })

describe('fastParseMeasurement', () => {
  it('answers only where the schema would, and then exactly as the schema (same keys, same order)', () => {
    const rnd = prng(11)
    let answered = 0
    for (let i = 0; i < 20_000; i++) {
      const input: Record<string, unknown> = {}
      for (const [key, pool] of Object.entries(VALUES)) {
        // Mostly canonical fields, so that the fast path is exercised, with one or two odd ones.
        const v = rnd() < 0.8 && key in canonical ? canonical[key as keyof Measurement] : pick(rnd, pool)
        if (v !== undefined || rnd() < 0.5) input[key] = v
      }
      const fast = fastParseMeasurement(input)
      const slow = IotMeasurementSchema.safeParse(input)
      if (fast === undefined) continue
      answered++
      expect(slow.success, JSON.stringify(input)).toBe(true)
      expect(fast).toStrictEqual(slow.data)
      expect(Object.keys(fast)).toEqual(Object.keys(slow.data as object))
    }
    expect(answered).toBeGreaterThan(2000)
  })

  it('answers for what the processor produces, so the hot path skips zod', () => {
    expect(fastParseMeasurement(canonical)).toStrictEqual(canonical)
    expect(fastParseMeasurement(JSON.parse(JSON.stringify(canonical)))).toStrictEqual(canonical)
    expect(fastParseMeasurement({ ...canonical, value: null, value_text: 'x', sensor_device_id: null, datapoint_id: null, connector: null, received_at: null })).toBeDefined()
  })

  it('leaves the rest to the schema: class instances, arrays, aliases', () => {
    class Row { timestamp = canonical.timestamp; device_id = 'x' }
    expect(fastParseMeasurement(new Row())).toBeUndefined()
    expect(fastParseMeasurement([canonical])).toBeUndefined()
    expect(fastParseMeasurement({ ...canonical, mac_address: 'other' })).toBeUndefined()
    expect(parseMeasurement({ ...canonical, mac_address: 'other' })).toEqual({ ok: true, value: canonical })
  })
})
