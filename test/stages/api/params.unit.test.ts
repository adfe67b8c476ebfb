import { describe, expect, it } from 'vitest'
import { ErrorCodes, isF2Error } from '../../../src/core/errors.ts'
import {
  decodeDeadLetterCursor, encodeDeadLetterCursor, LIMITS, parseDeadLetters, parseDeviceList, parseInstant, parseMac, parseReadings
} from '../../../src/stages/api/params.ts'

const NOW = new Date('2024-05-02T00:00:00.000Z')
const qs = (s: string): URLSearchParams => new URLSearchParams(s)
const REASONS = Object.values(ErrorCodes)

function refusal (fn: () => unknown): { code: string, parameter: unknown } {
  try {
    fn()
  } catch (err) {
    if (!isF2Error(err)) throw err
    return { code: err.code, parameter: err.details?.parameter }
  }
  throw new Error('expected a refusal')
}

describe('parseMac', () => {
  it.each([['e4fd45f654be'], ['E4FD45F654BE'], ['E4:FD:45:F6:54:BE'], ['e4-fd-45-f6-54-be']])('%s → e4fd45f654be', raw => {
    expect(parseMac(raw)).toBe('e4fd45f654be')
  })
  it.each([[''], ['e4fd45f654b'], ['e4fd45f654bee'], ['g4fd45f654be'], ['x'.repeat(40)], ['e4fd45f654be/..']])('refuses %j', raw => {
    expect(refusal(() => parseMac(raw))).toEqual({ code: ErrorCodes.API_PARAMETER_INVALID, parameter: 'mac' })
  })
})

describe('parseInstant', () => {
  it('takes ISO 8601 with Z or an offset', () => {
    expect(parseInstant('2024-05-01T12:00:00Z', 'from').toISOString()).toBe('2024-05-01T12:00:00.000Z')
    expect(parseInstant('2024-05-01T14:00:00.5+02:00', 'from').toISOString()).toBe('2024-05-01T12:00:00.500Z')
    expect(parseInstant('2024-05-01T12:00Z', 'from').toISOString()).toBe('2024-05-01T12:00:00.000Z')
  })
  it.each([['2024-05-01T12:00:00'], ['2024-05-01'], ['1714564800'], ['yesterday'], ['2024-13-01T00:00:00Z'], ['2024-05-01T12:00:00Z ']])('refuses %j', raw => {
    expect(refusal(() => parseInstant(raw, 'to'))).toEqual({ code: ErrorCodes.API_PARAMETER_INVALID, parameter: 'to' })
  })
})

describe('parseDeviceList', () => {
  it('defaults and filters', () => {
    expect(parseDeviceList(qs(''))).toEqual({ limit: LIMITS.devicesPage.default })
    expect(parseDeviceList(qs('state=offline&mode=sensor-mode&limit=5&cursor=e4fd45f654be')))
      .toEqual({ online: false, mode: 'sensor-mode', limit: 5, after: 'e4fd45f654be' })
    expect(parseDeviceList(qs('state=online')).online).toBe(true)
  })
  it.each([
    ['state=down', 'state'], ['limit=0', 'limit'], ['limit=1001', 'limit'], ['limit=ten', 'limit'], ['limit=-1', 'limit'],
    ['cursor=zzz', 'cursor'], ['mode=', 'mode'], [`mode=${'m'.repeat(129)}`, 'mode'], ['page=2', 'page'], ['state=online&state=offline', 'state']
  ])('%s → 400 naming %s', (query, parameter) => {
    expect(refusal(() => parseDeviceList(qs(query)))).toEqual({ code: ErrorCodes.API_PARAMETER_INVALID, parameter })
  })
})

describe('parseReadings', () => {
  it('raw by default over the last hour, JSON unless CSV is asked for', () => {
    const q = parseReadings('e4fd45f654be', qs(''), NOW, undefined)
    expect(q).toMatchObject({ bucket: 'raw', limit: LIMITS.readings.default, format: 'json' })
    expect(q.to).toEqual(NOW)
    expect(NOW.getTime() - q.from.getTime()).toBe(LIMITS.defaultSpanMs.raw)
    expect(parseReadings('m', qs(''), NOW, 'text/csv').format).toBe('csv')
    expect(parseReadings('m', qs('format=json'), NOW, 'text/csv').format).toBe('json')
    expect(parseReadings('m', qs('format=csv'), NOW, 'application/json').format).toBe('csv')
  })
  it('filters', () => {
    expect(parseReadings('m', qs('label=Temperature&pin=01&connector=2&limit=10'), NOW, undefined))
      .toMatchObject({ label: 'Temperature', pin: '1', connector: 2, limit: 10 })
  })
  it('aggregates cover the whole buckets starting in [from, to)', () => {
    const m = parseReadings('m', qs('bucket=1m&from=2024-05-01T00:00:30Z&to=2024-05-01T00:10:00Z'), NOW, undefined)
    expect([m.from.toISOString(), m.to.toISOString()]).toEqual(['2024-05-01T00:01:00.000Z', '2024-05-01T00:10:00.000Z'])
    const h = parseReadings('m', qs('bucket=1h&from=2024-05-01T00:00:00Z&to=2024-05-01T05:30:00Z'), NOW, undefined)
    expect([h.from.toISOString(), h.to.toISOString()]).toEqual(['2024-05-01T00:00:00.000Z', '2024-05-01T06:00:00.000Z'])
  })
  it('ranges up to the limit of each bucket kind pass', () => {
    expect(() => parseReadings('m', qs('from=2024-04-01T00:00:00Z&to=2024-05-02T00:00:00Z'), NOW, undefined)).not.toThrow()
    expect(() => parseReadings('m', qs('bucket=1m&from=2024-04-25T00:00:00Z&to=2024-05-02T00:00:00Z'), NOW, undefined)).not.toThrow()
    expect(() => parseReadings('m', qs('bucket=1h&from=2023-05-01T00:00:00Z&to=2024-05-01T00:00:00Z'), NOW, undefined)).not.toThrow()
  })
  it.each([
    ['from=2024-03-31T23:59:59Z&to=2024-05-02T00:00:00Z', 'from', ErrorCodes.API_RANGE_TOO_LARGE],
    ['bucket=1m&from=2024-04-24T23:59:00Z&to=2024-05-02T00:00:00Z', 'from', ErrorCodes.API_RANGE_TOO_LARGE],
    ['bucket=1h&from=2023-04-30T00:00:00Z&to=2024-05-02T00:00:00Z', 'from', ErrorCodes.API_RANGE_TOO_LARGE],
    ['from=2024-05-01T00:00:00Z&to=2024-05-01T00:00:00Z', 'from', ErrorCodes.API_RANGE_TOO_LARGE],
    ['bucket=1h&from=2024-05-01T00:10:00Z&to=2024-05-01T00:50:00Z', 'from', ErrorCodes.API_RANGE_TOO_LARGE],
    ['bucket=5m', 'bucket', ErrorCodes.API_PARAMETER_INVALID],
    ['from=2024-05-01', 'from', ErrorCodes.API_PARAMETER_INVALID],
    ['to=now', 'to', ErrorCodes.API_PARAMETER_INVALID],
    ['pin=a', 'pin', ErrorCodes.API_PARAMETER_INVALID],
    ['connector=6', 'connector', ErrorCodes.API_PARAMETER_INVALID],
    ['limit=10001', 'limit', ErrorCodes.API_PARAMETER_INVALID],
    ['format=xml', 'format', ErrorCodes.API_PARAMETER_INVALID],
    ['label=%00x', 'label', ErrorCodes.API_PARAMETER_INVALID],
    ['value=1', 'value', ErrorCodes.API_PARAMETER_INVALID]
  ])('%s → %s (%s)', (query, parameter, code) => {
    expect(refusal(() => parseReadings('m', qs(query), NOW, undefined))).toEqual({ code, parameter })
  })
})

describe('parseDeadLetters', () => {
  it('defaults to the last 24 h, filters by known reasons, stage and MAC', () => {
    const q = parseDeadLetters(qs('reason=F2_HEX_INVALID&stage=processor&mac=E4:FD:45:F6:54:BE'), NOW, REASONS)
    expect(q).toMatchObject({ reason: 'F2_HEX_INVALID', stage: 'processor', mac: 'e4fd45f654be', limit: LIMITS.deadLettersPage.default })
    expect(NOW.getTime() - q.from.getTime()).toBe(LIMITS.defaultSpanMs.deadLetters)
  })
  it.each([
    ['reason=F2_NOPE', 'reason', ErrorCodes.API_PARAMETER_INVALID],
    ['reason=hex', 'reason', ErrorCodes.API_PARAMETER_INVALID],
    ['stage=sensor', 'stage', ErrorCodes.API_PARAMETER_INVALID],
    ['mac=123', 'mac', ErrorCodes.API_PARAMETER_INVALID],
    ['cursor=abc', 'cursor', ErrorCodes.API_PARAMETER_INVALID],
    ['from=2024-03-01T00:00:00Z', 'from', ErrorCodes.API_RANGE_TOO_LARGE],
    ['limit=1001', 'limit', ErrorCodes.API_PARAMETER_INVALID]
  ])('%s → %s (%s)', (query, parameter, code) => {
    expect(refusal(() => parseDeadLetters(qs(query), NOW, REASONS))).toEqual({ code, parameter })
  })
  it('cursors round-trip and refuse tampering', () => {
    const c = { failedAt: '2024-05-01T12:00:00.123456Z', partition: 3, offset: '9007199254740993' }
    expect(decodeDeadLetterCursor(encodeDeadLetterCursor(c))).toEqual(c)
    const forged = Buffer.from('2024-05-01T12:00:00Z|1|2').toString('base64url')
    expect(refusal(() => decodeDeadLetterCursor(forged))).toEqual({ code: ErrorCodes.API_PARAMETER_INVALID, parameter: 'cursor' })
  })
})
