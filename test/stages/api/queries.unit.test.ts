import { describe, expect, it } from 'vitest'
import { parseDeadLetters, parseDeviceList, parseReadings } from '../../../src/stages/api/params.ts'
import { deadLettersQuery, deviceListQuery, readingsQuery, readingsSource, type Query } from '../../../src/stages/api/queries.ts'
import { ErrorCodes } from '../../../src/core/errors.ts'

const NOW = new Date('2024-05-02T00:00:00Z')
const HOSTILE = "x'); DROP TABLE device_state; --"

/** Every $n of the text is used, numbered 1..params.length, and no parameter value is in the text. */
function wellFormed (q: Query): void {
  const used = new Set([...q.text.matchAll(/\$(\d+)/g)].map(m => Number(m[1])))
  expect([...used].sort((a, b) => a - b)).toEqual(q.params.map((_, i) => i + 1))
  for (const p of q.params) if (typeof p === 'string' && p.length > 3) expect(q.text).not.toContain(p)
}

describe('SQL of the read API', () => {
  it.each([
    ['', [101], []],
    ['state=offline', [false, 101], ['online = $1::boolean']],
    ['state=online&mode=sensor-mode&cursor=e4fd45f654be&limit=5', [true, 'sensor-mode', 'e4fd45f654be', 6], ['online = $1', 'mode = $2', 'device_id > $3']],
    [`mode=${encodeURIComponent(HOSTILE)}`, [HOSTILE, 101], ['mode = $1::text']]
  ])('devices ?%s', (qs, params, fragments) => {
    const q = deviceListQuery(parseDeviceList(new URLSearchParams(qs)))
    wellFormed(q)
    expect(q.params).toEqual(params)
    for (const f of fragments) expect(q.text).toContain(f)
    expect(q.text).toMatch(/ORDER BY device_id LIMIT \$\d+::int$/)
  })

  it.each([
    ['raw', 'timescale', 'FROM iot_measurements', 'iot_measurements'],
    ['1m', 'timescale', 'time_bucket(INTERVAL \'1 minute\'', 'iot_measurements/time_bucket'],
    ['1m', 'plain', 'date_bin(INTERVAL \'1 minute\'', 'iot_measurements/date_bin'],
    ['1h', 'timescale', 'FROM iot_hourly_stats', 'iot_hourly_stats/continuous_aggregate'],
    ['1h', 'plain', 'FROM iot_hourly_stats', 'iot_hourly_stats/view']
  ] as const)('readings bucket=%s on %s', (bucket, variant, fragment, source) => {
    const r = parseReadings('e4fd45f654be', new URLSearchParams(`bucket=${bucket}&label=${encodeURIComponent(HOSTILE)}&pin=2&connector=1&limit=10`), NOW, undefined)
    const q = readingsQuery(r, variant)
    wellFormed(q)
    expect(q.text).toContain(fragment)
    expect(q.params).toEqual(['e4fd45f654be', r.from.toISOString(), r.to.toISOString(), HOSTILE, '2', 1, 11])
    expect(readingsSource(bucket, variant)).toBe(source)
  })

  it('dead letters: filters and the keyset cursor', () => {
    const first = deadLettersQuery(parseDeadLetters(new URLSearchParams('reason=F2_HEX_INVALID&mac=e4fd45f654be&stage=processor'), NOW, Object.values(ErrorCodes)))
    wellFormed(first)
    expect(first.params.slice(2)).toEqual(['F2_HEX_INVALID', 'e4fd45f654be', 'processor', 101])
    const cursor = Buffer.from('2024-05-01T12:00:00.123456Z|2|77').toString('base64url')
    const next = deadLettersQuery(parseDeadLetters(new URLSearchParams(`cursor=${cursor}`), NOW, []))
    wellFormed(next)
    expect(next.text).toContain('(failed_at, partition, "offset") < ($3::timestamptz, $4::int, $5::bigint)')
    expect(next.params.slice(2)).toEqual(['2024-05-01T12:00:00.123456Z', 2, '77', 101])
  })
})
