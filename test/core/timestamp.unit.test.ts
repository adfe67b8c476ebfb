import { describe, expect, it } from 'vitest'
import { ErrorCodes } from '../../src/core/errors.ts'
import { formatF2Timestamp, formatIso, isValidZone, parseTimestamp } from '../../src/core/timestamp.ts'
import { prng, randInt } from './helpers/prng.ts'

function iso (input: unknown, zone = 'UTC'): string {
  const r = parseTimestamp(input, zone)
  if (!r.ok) throw new Error(`expected ok for ${String(input)}: ${r.error.message}`)
  return r.value.iso
}

describe('parseTimestamp: accepted forms', () => {
  it.each([
    ['2023-05-26 18:34:04.928538', 'UTC', '2023-05-26T18:34:04.928538Z'],
    ['2023-05-26T18:34:04.928538', 'UTC', '2023-05-26T18:34:04.928538Z'],
    ['2023-05-26T18:34:04.928538Z', 'Europe/Berlin', '2023-05-26T18:34:04.928538Z'],
    ['2023-05-26T18:34:04.928538+02:00', 'UTC', '2023-05-26T16:34:04.928538Z'],
    ['2023-05-26T18:34:04.928538-0530', 'UTC', '2023-05-27T00:04:04.928538Z'],
    ['2023-05-26T18:34:04+01', 'UTC', '2023-05-26T17:34:04.000000Z'],
    ['2023-05-26T18:34', 'UTC', '2023-05-26T18:34:00.000000Z'],
    ['2023-05-26 18:34:04', 'UTC', '2023-05-26T18:34:04.000000Z'],
    ['2023-05-26 18:34:04.9', 'UTC', '2023-05-26T18:34:04.900000Z'],
    ['2023-05-26 18:34:04,5', 'UTC', '2023-05-26T18:34:04.500000Z'],
    ['2023-05-26t18:34:04z', 'UTC', '2023-05-26T18:34:04.000000Z'],
    ['  2023-05-26 18:34:04.928538  ', 'UTC', '2023-05-26T18:34:04.928538Z'],
    ['2023-05-26 18:34:04.9285384', 'UTC', '2023-05-26T18:34:04.928538Z'],
    ['2023-05-26 18:34:04.9285385', 'UTC', '2023-05-26T18:34:04.928539Z'],
    ['2023-05-26 23:59:59.9999999', 'UTC', '2023-05-27T00:00:00.000000Z'],
    ['2024-02-29 12:00:00', 'UTC', '2024-02-29T12:00:00.000000Z'],
    // naive device time read in the configured zone, DST included
    ['2023-05-26 18:34:04.928538', 'Europe/Berlin', '2023-05-26T16:34:04.928538Z'],
    ['2023-01-15 18:34:04.928538', 'Europe/Berlin', '2023-01-15T17:34:04.928538Z'],
    ['2023-05-26 18:34:04.928538', 'America/New_York', '2023-05-26T22:34:04.928538Z'],
    ['2023-05-26 18:34:04.928538', 'Asia/Kolkata', '2023-05-26T13:04:04.928538Z'],
    // spring forward in Berlin: 02:00-03:00 does not exist → shifted forward by the gap
    ['2023-03-26 02:30:00', 'Europe/Berlin', '2023-03-26T01:30:00.000000Z'],
    ['2023-03-26 01:59:59', 'Europe/Berlin', '2023-03-26T00:59:59.000000Z'],
    ['2023-03-26 03:00:00', 'Europe/Berlin', '2023-03-26T01:00:00.000000Z'],
    // fall back: 02:00-03:00 happens twice → the earlier instant
    ['2023-10-29 02:30:00', 'Europe/Berlin', '2023-10-29T00:30:00.000000Z'],
    ['2023-10-29 03:00:00', 'Europe/Berlin', '2023-10-29T02:00:00.000000Z'],
    ['1970-01-01 00:00:00', 'UTC', '1970-01-01T00:00:00.000000Z'],
    ['9999-12-31 23:59:59.999999', 'UTC', '9999-12-31T23:59:59.999999Z']
  ])('%j in %s → %s', (input, zone, expected) => {
    expect(iso(input, zone)).toBe(expected)
  })

  it.each([
    [1685126044.928538, '2023-05-26T18:34:04.928538Z'],
    [1685126044, '2023-05-26T18:34:04.000000Z'],
    [0, '1970-01-01T00:00:00.000000Z'],
    [1685126044928, '2023-05-26T18:34:04.928000Z'],
    [1685126044928.538, '2023-05-26T18:34:04.928538Z'],
    [99999999999, '5138-11-16T09:46:39.000000Z'],
    [1e11, '1973-03-03T09:46:40.000000Z'],
    ['1685126044.928538', '2023-05-26T18:34:04.928538Z'],
    ['1685126044', '2023-05-26T18:34:04.000000Z'],
    ['+1685126044.5', '2023-05-26T18:34:04.500000Z'],
    ['1685126044928', '2023-05-26T18:34:04.928000Z'],
    ['1685126044928.538', '2023-05-26T18:34:04.928538Z'],
    ['1685126044.1234567', '2023-05-26T18:34:04.123457Z'],
    ['253402300799999.999', '9999-12-31T23:59:59.999999Z'],
    ['253402300799', '1978-01-11T21:31:40.799000Z'] // ≥ 1e11: milliseconds, by the documented rule
  ])('epoch %j → %s (seconds below 1e11, milliseconds above)', (input, expected) => {
    expect(iso(input)).toBe(expected)
  })

  it('keeps microseconds of numeric strings exactly where a float would not', () => {
    // 1685126044.000001 as a double is 1685126044.0000010 ± 1e-7; the string path is exact.
    expect(iso('1685126044.000001')).toBe('2023-05-26T18:34:04.000001Z')
    expect(iso('1685126044.999999')).toBe('2023-05-26T18:34:04.999999Z')
  })

  it('epochMs carries the sub-millisecond fraction', () => {
    const r = parseTimestamp('2023-05-26 18:34:04.928538')
    expect(r.ok && r.value.epochMs).toBeCloseTo(1685126044928.538, 3)
  })
})

describe('parseTimestamp: rejected input', () => {
  it.each([
    [Number.NaN], [Number.POSITIVE_INFINITY], [Number.NEGATIVE_INFINITY], [-1], [-0.5],
    [''], ['   '], ['now'], ['garbage'], ['NaN'], ['Infinity'], ['-1685126044'], ['1e9'], ['0x10'],
    ['2023-13-01 00:00:00'], ['2023-02-29 00:00:00'], ['2023-04-31 00:00:00'], ['2023-05-26 24:00:00'],
    ['2023-05-26 18:60:00'], ['2023-05-26 18:34:60'], ['2023-05-26'], ['18:34:04'], ['2023-5-26 18:34:04'],
    ['1969-12-31 23:59:59'], ['1969-12-31T23:59:59Z'], ['10000-01-01 00:00:00'], ['9999-12-31T23:59:59-01:00'],
    ['2023-05-26T18:34:04+24:00'], ['2023-05-26T18:34:04+02:60'], ['2023-05-26T18:34:04 UTC'],
    ['253402300800000'], ['253402300799999.9995'], ['1'.repeat(30)], [253402300800000], [1e20],
    [null], [undefined], [true], [{}], [[]], [new Date(0)]
  ])('%j', (input) => {
    const r = parseTimestamp(input)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.error.code).toBe(ErrorCodes.TIMESTAMP_INVALID)
  })

  it('an unknown zone is a configuration error, only for naive input', () => {
    const r = parseTimestamp('2023-05-26 18:34:04', 'Mars/Olympus_Mons')
    expect(!r.ok && r.error.code).toBe(ErrorCodes.CONFIG_INVALID)
    expect(parseTimestamp('2023-05-26T18:34:04Z', 'Mars/Olympus_Mons').ok).toBe(true)
  })
})

describe('formatF2Timestamp / formatIso / isValidZone', () => {
  it('renders the device form in a zone', () => {
    expect(formatF2Timestamp(1685126044928.538, 'UTC')).toBe('2023-05-26 18:34:04.928538')
    expect(formatF2Timestamp(1685126044928.538, 'Europe/Berlin')).toBe('2023-05-26 20:34:04.928538')
    expect(formatF2Timestamp(1673804044000, 'Europe/Berlin')).toBe('2023-01-15 18:34:04.000000')
    expect(formatF2Timestamp(0)).toBe('1970-01-01 00:00:00.000000')
    expect(formatIso(1685126044928.538)).toBe('2023-05-26T18:34:04.928538Z')
    expect(formatIso(1685126044999 + 0.9999)).toBe('2023-05-26T18:34:05.000000Z')
  })

  it('throws on programmer error', () => {
    expect(() => formatF2Timestamp(Number.NaN)).toThrow(RangeError)
    expect(() => formatF2Timestamp(0, 'Nowhere/Land')).toThrow(RangeError)
  })

  it('isValidZone', () => {
    expect(isValidZone('UTC')).toBe(true)
    expect(isValidZone('Europe/Berlin')).toBe(true)
    expect(isValidZone('Nowhere/Land')).toBe(false)
    expect(isValidZone('')).toBe(false)
  })

  it.each(['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu'])('round trip format → parse in %s (seeded, incl. DST edges)', (zone) => {
    const rnd = prng(0xf2 + zone.length)
    for (let i = 0; i < 2000; i++) {
      const sec = randInt(rnd, 0, 4102444800) // 1970 .. 2100
      const micro = randInt(rnd, 0, 999999)
      const epochMs = sec * 1000 + micro / 1000
      const text = formatF2Timestamp(epochMs, zone)
      const back = parseTimestamp(text, zone)
      expect(back.ok).toBe(true)
      if (!back.ok) continue
      const expectedIso = formatIso(epochMs)
      if (back.value.iso !== expectedIso) {
        // Only a wall time that occurs twice (clocks set back) may map to the other instant: the earlier one.
        const diff = (Date.parse(expectedIso) - Date.parse(back.value.iso)) / 1000
        expect(diff).toBeGreaterThan(0)
        expect(diff).toBeLessThanOrEqual(3600)
        expect(formatF2Timestamp(back.value.epochMs, zone)).toBe(text)
      }
    }
  })
})
