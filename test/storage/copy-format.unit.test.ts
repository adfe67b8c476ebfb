import { describe, expect, it } from 'vitest'
import { copyField, copyLine, measurementProblem, MEASUREMENT_COLUMNS, withStoredNulls } from '../../src/storage/copy-format.ts'
import { measurement } from '../../harness/measurement.ts'

describe('COPY text encoding', () => {
  it('escapes the characters COPY text format treats specially', () => {
    expect(copyField(null)).toBe('\\N')
    expect(copyField('\\N')).toBe('\\\\N')
    expect(copyField('a\tb\nc\rd\\e')).toBe('a\\tb\\nc\\rd\\\\e')
    expect(copyField('é 中 😀 "q" ,;')).toBe('é 中 😀 "q" ,;')
    expect(copyField(-0.5)).toBe('-0.5')
    expect(copyField(1e21)).toBe('1e+21')
  })

  it('writes one line per row with 13 fields; connector null becomes 0', () => {
    const line = copyLine(measurement(0, { connector: null, value_text: 'x\ny' }))
    expect(line.endsWith('\n')).toBe(true)
    const fields = line.slice(0, -1).split('\t')
    expect(fields.length).toBe(13)
    expect(fields[8]).toBe('0')
    expect(fields[9]).toBe('x\\ny')
  })

  it('writes the fields in MEASUREMENT_COLUMNS order, as stored (withStoredNulls)', () => {
    const m = measurement(3, { connector: null, value: null, value_text: 'scan', unit: '', sensor_device_id: null })
    const stored = withStoredNulls(m)
    expect(stored.connector).toBe(0)
    expect(stored.value).toBeNull()
    expect(copyLine(m)).toBe(MEASUREMENT_COLUMNS.map(c => copyField(stored[c] as string | number | null)).join('\t') + '\n')
  })
})

describe('measurementProblem', () => {
  it('accepts a valid measurement', () => {
    expect(measurementProblem(measurement(1))).toBeNull()
    expect(measurementProblem(measurement(1, { value: null, connector: null, received_at: null, sensor_device_id: null, datapoint_id: null }))).toBeNull()
  })

  it.each([
    ['NUL in text', { value_text: 'a\u0000b' }, /NUL/],
    ['NUL in a key', { device_id: '\u0000' }, /device_id/],
    ['NaN', { value: Number.NaN }, /finite/],
    ['Infinity', { value: Number.POSITIVE_INFINITY }, /finite/],
    ['bad timestamp', { timestamp: 'not a time' }, /timestamp/],
    ['too early', { timestamp: '-100000-01-01T00:00:00Z' }, /4713 BC|not a timestamp/],
    ['connector out of smallint', { connector: 40000 }, /connector/],
    ['fractional id', { datapoint_id: 1.5 }, /datapoint_id/],
    ['bad received_at', { received_at: 'soon' }, /received_at/],
    ['missing key field', { pin_position: undefined as unknown as string }, /pin_position/]
  ])('refuses %s', (_name, overrides, pattern) => {
    expect(measurementProblem(measurement(1, overrides))).toMatch(pattern)
  })
})
