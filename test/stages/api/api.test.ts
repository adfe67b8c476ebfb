import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ErrorCodes } from '../../../src/core/errors.ts'
import { TokenStore } from '../../../src/stages/api/token-store.ts'
import type { ApiService } from '../../../src/stages/api/service.ts'
import { TimeseriesWriter } from '../../../src/storage/timeseries-writer.ts'
import { measurement } from '../../../harness/measurement.ts'
import { migratedDatabase, type MigratedDatabase } from '../../storage/helpers.ts'
import { parseCsv } from './csv-reader.ts'
import { get, insertToken, startApi, type Answer } from './harness.ts'
import { openapiDoc, validated, validateResponse } from './openapi.ts'
import { waitForValue } from '../../../harness/wait.ts'

/**
 * The read API against real PostgreSQL (plain variant): every route with good and bad
 * parameters, tokens, and every answer validated against docs/api/openapi.json.
 */
let registry: MigratedDatabase
let timeseries: MigratedDatabase
let api: { service: ApiService, base: string }
let token: string
let revokedToken: string
let commandOnly: string

const ONLINE = 'e4fd45f654be' // registry + state, online, with readings
const SILENT = 'abc123def456' // registry + state, offline (silent)
const WILL = '00000000aa01' // state only (not registered), offline (will)
const REGISTERED = '123456abcdef' // registry only, no state yet
const T0 = Date.UTC(2024, 4, 1) // measurement(i) is T0 + i s

const lastValues = [
  { connector: 1, connector_mode: 'sensor-mode', datapoint_label: 'Temperature', pin_position: '1', value: 21.5, value_text: null, unit: '°C', timestamp: '2024-05-01T01:59:59.000000Z' },
  { connector: 3, connector_mode: 'access-control-mode', datapoint_label: 'reader-1', pin_position: '-1', value: null, value_text: 'card, "x"', unit: '', timestamp: '2024-05-01T01:00:00.000000Z' }
]

beforeAll(async () => {
  registry = await migratedDatabase('registry')
  timeseries = await migratedDatabase('timeseries')
  const ts = timeseries.sql
  const state = (mac: string, mode: string | null, online: boolean, reason: string | null, values: unknown[]) =>
    ts`INSERT INTO device_state (device_id, mode, online, last_seen, since, offline_reason, expected_interval_s, last_values, rows_last_hour, dead_letters_last_hour, updated_at)
       VALUES (${mac}, ${mode}, ${online}, ${new Date(T0 + 7_199_000)}, ${new Date(T0)}, ${reason}, 30, ${ts.json(values as never)}, ${online ? 240 : 0}, ${online ? 2 : 0}, ${new Date(T0 + 7_200_000)})`
  await state(ONLINE, 'sensor-mode', true, null, lastValues)
  await state(SILENT, 'sensor-mode', false, 'silent', [])
  await state(WILL, 'access-control-mode', false, 'will', [])
  await ts`INSERT INTO device_state_events (device_id, time, online, reason) VALUES
    (${SILENT}, ${new Date(T0 - 60_000)}, true, 'message'), (${SILENT}, ${new Date(T0)}, false, 'silent'), (${WILL}, ${new Date(T0)}, false, 'will')`

  // Two hours of one reading per 10 s on J1/sensor-1 (Temperature, Humidity) plus text readings with CSV-hostile characters.
  const rows = []
  for (let i = 0; i < 720; i++) {
    rows.push(measurement(i * 10, { device_id: ONLINE, value: i, datapoint_label: 'Temperature' }))
    rows.push(measurement(i * 10, { device_id: ONLINE, value: 1000 + i, datapoint_label: 'Humidity', unit: '%' }))
  }
  rows.push(measurement(3600, { device_id: ONLINE, connector: 3, connector_mode: 'access-control-mode', datapoint_label: 'reader-1', pin_position: '-1', value: null, value_text: 'card, "x"\nline', unit: '' }))
  rows.push(measurement(0, { device_id: SILENT, value: 5 }))
  expect((await new TimeseriesWriter(ts).writeBatch(rows)).rejected).toEqual([])

  const dl = (partition: number, offset: number, at: number, reason: string, stage: string, mac: string | null) =>
    ts`INSERT INTO dead_letters (partition, "offset", failed_at, reason, stage, device_id, mqtt_topic, message, record) VALUES
      (${partition}, ${offset}, ${new Date(T0 + at)}, ${reason}, ${stage}, ${mac}, ${mac === null ? null : `tele/f2-${mac}/sensor-mode/J1/sensor-1`},
       ${`failed ${offset}`}, ${ts.json({ reason, original_value: 'zz', offset } as never)})`
  await dl(0, 1, 1000, 'F2_HEX_INVALID', 'processor', ONLINE)
  await dl(0, 2, 2000, 'F2_HEX_INVALID', 'processor', SILENT)
  await dl(1, 1, 2000, 'F2_REGISTRY_UNKNOWN_CONTROLLER', 'processor', WILL)
  await dl(1, 2, 3000, 'F2_TOPIC_INVALID', 'connector', null)
  await dl(0, 3, 4000, 'F2_DB_ROW_REJECTED', 'sink', ONLINE)

  const store = new TokenStore(registry.sql)
  token = (await store.create('tests', ['read'])).token
  const revoked = await store.create('revoked', ['read'])
  await store.revoke(revoked.id)
  revokedToken = revoked.token
  commandOnly = await insertToken(registry.sql, 'c0ffee000001', 'C'.repeat(43), ['command'])
  api = await startApi(registry.url, timeseries.url)
})

afterAll(async () => {
  await api?.service.stop(2000)
  await timeseries?.drop()
  await registry?.drop()
})

/** GET with the read token; validates the answer against the document's operation for `template`. */
async function call (template: string, path: string, init: { token?: string | null, accept?: string, method?: string } = {}): Promise<Answer> {
  const t = init.token === null ? undefined : init.token ?? token
  const a = await get(`${api.base}${path}`, { ...init, token: t })
  const contentType = a.headers.get('content-type') ?? ''
  validateResponse(template, 'get', a.status, contentType, contentType.startsWith('application/json') ? a.json : a.text)
  return a
}

const errorOf = (a: Answer): { code: string, parameter?: unknown } => {
  const e = (a.json as { error: { code: string, details?: { parameter?: unknown } } }).error
  return e.details?.parameter === undefined ? { code: e.code } : { code: e.code, parameter: e.details.parameter }
}

describe('tokens', () => {
  it.each(['/api/devices', `/api/devices/${ONLINE}`, `/api/devices/${ONLINE}/readings`, '/api/dead-letters'])('%s needs a valid token with the read scope', async path => {
    const template = path.replace(ONLINE, '{mac}')
    const none = await call(template, path, { token: null })
    expect([none.status, errorOf(none).code, none.headers.get('www-authenticate')]).toEqual([401, ErrorCodes.API_UNAUTHORIZED, 'Bearer realm="f2"'])
    for (const bad of ['garbage', `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, revokedToken]) {
      const a = await call(template, path, { token: bad })
      expect([a.status, errorOf(a).code], bad).toEqual([401, ErrorCodes.API_UNAUTHORIZED])
    }
    const scope = await call(template, path, { token: commandOnly })
    expect([scope.status, errorOf(scope).code]).toEqual([403, ErrorCodes.API_FORBIDDEN])
    expect((await call(template, path)).status).toBe(200)
  })

  it('the document itself needs no token and is the file in docs/api', async () => {
    const a = await call('/api/openapi.json', '/api/openapi.json', { token: null })
    expect(a.status).toBe(200)
    expect(a.json).toEqual(openapiDoc)
  })

  it('records the last use of a token', async () => {
    await waitForValue('last use recorded', async () => {
      const [row] = await registry.sql<Array<{ used: boolean }>>`SELECT last_used_at IS NOT NULL AS used FROM api_tokens WHERE name = 'tests'`
      return row?.used === true ? true : undefined
    }, 10_000, 50)
  })
})

describe('GET /api/devices', () => {
  const T = '/api/devices'
  const macs = (a: Answer): string[] => (a.json as { devices: Array<{ mac: string }> }).devices.map(d => d.mac)

  it('lists every controller in the state, filtered by state and mode', async () => {
    expect(macs(await call(T, T))).toEqual([WILL, SILENT, ONLINE])
    expect(macs(await call(T, `${T}?state=offline`))).toEqual([WILL, SILENT])
    expect(macs(await call(T, `${T}?state=online`))).toEqual([ONLINE])
    expect(macs(await call(T, `${T}?mode=access-control-mode`))).toEqual([WILL])
    expect(macs(await call(T, `${T}?state=online&mode=access-control-mode`))).toEqual([])
    const one = (await call(T, `${T}?state=offline`)).json as { devices: Array<Record<string, unknown>> }
    expect(one.devices[0]).toEqual({
      mac: WILL, mode: 'access-control-mode', online: false, last_seen: '2024-05-01T01:59:59.000000Z', since: '2024-05-01T00:00:00.000000Z',
      offline_reason: 'will', expected_interval_s: 30, rows_last_hour: 0, dead_letters_last_hour: 0, updated_at: '2024-05-01T02:00:00.000000Z'
    })
  })

  it('pages with a cursor', async () => {
    const seen: string[] = []
    let path = `${T}?limit=1`
    for (let i = 0; i < 5; i++) {
      const page = (await call(T, path)).json as { devices: Array<{ mac: string }>, next_cursor: string | null }
      seen.push(...page.devices.map(d => d.mac))
      if (page.next_cursor === null) break
      path = `${T}?limit=1&cursor=${page.next_cursor}`
    }
    expect(seen).toEqual([WILL, SILENT, ONLINE])
    expect((await call(T, `${T}?limit=3`)).json).toMatchObject({ next_cursor: null })
  })

  it.each([['state=gone', 'state'], ['limit=0', 'limit'], ['limit=1001', 'limit'], ['cursor=nope', 'cursor'], ['sort=mac', 'sort']])('?%s → 400 (%s)', async (query, parameter) => {
    const a = await call(T, `${T}?${query}`)
    expect([a.status, errorOf(a)]).toEqual([400, { code: ErrorCodes.API_PARAMETER_INVALID, parameter }])
  })
})

describe('GET /api/devices/{mac}', () => {
  const T = '/api/devices/{mac}'
  type Detail = { mac: string, state: Record<string, unknown> | null, last_values: unknown[], transitions: unknown[], registry: { connectors: Array<{ number: number, pins: Array<{ position: number, sensor: { name: string, template: string, data_points: number } | null }> }> } | null }

  it('state, last values, transitions and the registry wiring', async () => {
    const a = await call(T, `/api/devices/${ONLINE.toUpperCase().match(/../g)?.join(':') ?? ''}`)
    expect(a.status).toBe(200)
    const d = a.json as Detail
    expect(d.mac).toBe(ONLINE)
    expect(d.state).toMatchObject({ mac: ONLINE, online: true, offline_reason: null, rows_last_hour: 240 })
    expect(d.last_values).toEqual(lastValues)
    expect(d.registry?.connectors.map(c => c.number)).toEqual([1])
    expect(d.registry?.connectors[0]?.pins.map(p => [p.position, p.sensor?.name, p.sensor?.template, p.sensor?.data_points])).toEqual([
      [1, 'Living Room Env Sensor', 'Environmental Sensor', 3], [2, 'Main Energy Meter', 'Energy Meter', 4]
    ])
  })

  it('transitions newest first; a controller only in the state has no wiring; one only in the registry has no state', async () => {
    const silent = (await call(T, `/api/devices/${SILENT}`)).json as Detail
    expect(silent.transitions).toEqual([
      { time: '2024-05-01T00:00:00.000000Z', online: false, reason: 'silent' },
      { time: '2024-04-30T23:59:00.000000Z', online: true, reason: 'message' }
    ])
    const will = (await call(T, `/api/devices/${WILL}`)).json as Detail
    expect([will.state?.offline_reason, will.registry]).toEqual(['will', null])
    const registered = (await call(T, `/api/devices/${REGISTERED}`)).json as Detail
    expect([registered.state, registered.last_values, registered.transitions]).toEqual([null, [], []])
    expect(registered.registry?.connectors.map(c => c.number)).toEqual([4])
  })

  it('unknown MAC → 404, malformed MAC or any parameter → 400', async () => {
    const unknown = await call(T, '/api/devices/0123456789ab')
    expect([unknown.status, errorOf(unknown).code]).toEqual([404, ErrorCodes.API_NOT_FOUND])
    for (const [path, parameter] of [['/api/devices/xyz', 'mac'], ['/api/devices/%E0%A4%A', 'mac'], [`/api/devices/${ONLINE}?full=1`, 'full']]) {
      const a = await call(T, path as string)
      expect([a.status, errorOf(a)], path).toEqual([400, { code: ErrorCodes.API_PARAMETER_INVALID, parameter }])
    }
  })
})

describe('GET /api/devices/{mac}/readings', () => {
  const T = '/api/devices/{mac}/readings'
  const R = `/api/devices/${ONLINE}/readings`
  const range = 'from=2024-05-01T00:00:00Z&to=2024-05-01T00:01:00Z'
  type Readings = { bucket: string, source: string, truncated: boolean, readings: Array<Record<string, unknown>> }

  it('raw rows in time order, filtered by label, pin and connector', async () => {
    const a = (await call(T, `${R}?${range}`)).json as Readings
    expect([a.bucket, a.source, a.truncated, a.readings.length]).toEqual(['raw', 'iot_measurements', false, 12])
    expect(a.readings[0]).toEqual({
      timestamp: '2024-05-01T00:00:00.000000Z', connector: 1, connector_mode: 'sensor-mode', datapoint_label: 'Humidity', pin_position: '1', value: 1000, value_text: null, unit: '%'
    })
    const temp = (await call(T, `${R}?${range}&label=Temperature&pin=1&connector=1`)).json as Readings
    expect(temp.readings.map(r => r.value)).toEqual([0, 1, 2, 3, 4, 5])
    expect(((await call(T, `${R}?${range}&pin=2`)).json as Readings).readings).toEqual([])
  })

  it('limit truncates and says so', async () => {
    const a = (await call(T, `${R}?${range}&limit=5`)).json as Readings
    expect([a.readings.length, a.truncated]).toEqual([5, true])
  })

  it('CSV by Accept header or format=csv, RFC 4180, the same rows as JSON', async () => {
    const textRange = 'from=2024-05-01T01:00:00Z&to=2024-05-01T01:00:01Z'
    const json = (await call(T, `${R}?${textRange}`)).json as Readings
    for (const init of [{ accept: 'text/csv' }, {}]) {
      const a = await call(T, `${R}?${textRange}${'accept' in init ? '' : '&format=csv'}`, init)
      expect(a.status).toBe(200)
      expect(a.headers.get('content-type')).toMatch(/^text\/csv; charset=utf-8/)
      expect(a.headers.get('x-f2-truncated')).toBe('false')
      expect(a.text.endsWith('\r\n')).toBe(true)
      const [header, ...rows] = parseCsv(a.text)
      expect(header).toEqual(['timestamp', 'connector', 'connector_mode', 'datapoint_label', 'pin_position', 'value', 'value_text', 'unit'])
      expect(rows).toEqual(json.readings.map(r => (header as string[]).map(c => r[c] === null ? '' : String(r[c]))))
      expect(rows.map(r => r[6])).toContain('card, "x"\nline')
    }
  })

  it('1m buckets computed from the raw rows (date_bin on plain PostgreSQL)', async () => {
    const a = (await call(T, `${R}?bucket=1m&from=2024-05-01T00:00:00Z&to=2024-05-01T00:02:00Z&label=Temperature`)).json as Readings
    expect(a.source).toBe('iot_measurements/date_bin')
    expect(a.readings).toEqual([
      { bucket: '2024-05-01T00:00:00.000000Z', connector: 1, datapoint_label: 'Temperature', pin_position: '1', unit: '°C', avg_value: 2.5, min_value: 0, max_value: 5, sample_count: 6 },
      { bucket: '2024-05-01T00:01:00.000000Z', connector: 1, datapoint_label: 'Temperature', pin_position: '1', unit: '°C', avg_value: 8.5, min_value: 6, max_value: 11, sample_count: 6 }
    ])
    const csv = await call(T, `${R}?bucket=1m&from=2024-05-01T00:00:00Z&to=2024-05-01T00:01:00Z&label=Temperature&format=csv`)
    expect(parseCsv(csv.text)).toEqual([
      ['bucket', 'connector', 'datapoint_label', 'pin_position', 'unit', 'avg_value', 'min_value', 'max_value', 'sample_count'],
      ['2024-05-01T00:00:00.000000Z', '1', 'Temperature', '1', '°C', '2.5', '0', '5', '6']
    ])
  })

  it('1h buckets from iot_hourly_stats (the plain view here)', async () => {
    const a = (await call(T, `${R}?bucket=1h&from=2024-05-01T00:00:00Z&to=2024-05-01T03:00:00Z&label=Humidity`)).json as Readings
    expect(a.source).toBe('iot_hourly_stats/view')
    expect(a.readings.map(r => [r.bucket, r.avg_value, r.min_value, r.max_value, r.sample_count])).toEqual([
      ['2024-05-01T00:00:00.000000Z', 1179.5, 1000, 1359, 360],
      ['2024-05-01T01:00:00.000000Z', 1539.5, 1360, 1719, 360]
    ])
  })

  it('a registered controller without readings answers an empty list; an unknown one 404', async () => {
    expect(((await call(T, `/api/devices/${REGISTERED}/readings`)).json as Readings).readings).toEqual([])
    const a = await call(T, '/api/devices/0123456789ab/readings')
    expect([a.status, errorOf(a).code]).toEqual([404, ErrorCodes.API_NOT_FOUND])
  })

  it.each([
    ['bucket=5m', 'bucket', ErrorCodes.API_PARAMETER_INVALID],
    ['from=2024-05-01', 'from', ErrorCodes.API_PARAMETER_INVALID],
    ['from=2024-03-01T00:00:00Z&to=2024-05-01T00:00:00Z', 'from', ErrorCodes.API_RANGE_TOO_LARGE],
    ['bucket=1m&from=2024-04-01T00:00:00Z&to=2024-05-01T00:00:00Z', 'from', ErrorCodes.API_RANGE_TOO_LARGE],
    ['from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z', 'from', ErrorCodes.API_RANGE_TOO_LARGE],
    ['limit=100000', 'limit', ErrorCodes.API_PARAMETER_INVALID],
    ['pin=x', 'pin', ErrorCodes.API_PARAMETER_INVALID],
    ['format=xlsx', 'format', ErrorCodes.API_PARAMETER_INVALID]
  ])('?%s → 400 %s (%s)', async (query, parameter, code) => {
    const a = await call(T, `${R}?${query}`)
    expect([a.status, errorOf(a)]).toEqual([400, { code, parameter }])
  })
})

describe('GET /api/dead-letters', () => {
  const T = '/api/dead-letters'
  const range = 'from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z'
  type List = { dead_letters: Array<{ offset: string, partition: number, reason: string, mac: string | null, record: unknown }>, next_cursor: string | null }
  const ids = (a: Answer): string[] => (a.json as List).dead_letters.map(d => `${d.partition}/${d.offset}`)

  it('newest first, with the record, filtered by reason, MAC, stage and time', async () => {
    expect(ids(await call(T, `${T}?${range}`))).toEqual(['0/3', '1/2', '1/1', '0/2', '0/1'])
    expect(ids(await call(T, `${T}?${range}&reason=F2_HEX_INVALID`))).toEqual(['0/2', '0/1'])
    expect(ids(await call(T, `${T}?${range}&mac=${ONLINE}`))).toEqual(['0/3', '0/1'])
    expect(ids(await call(T, `${T}?${range}&stage=connector`))).toEqual(['1/2'])
    expect(ids(await call(T, `${T}?from=2024-05-01T00:00:02Z&to=2024-05-01T00:00:03Z`))).toEqual(['1/1', '0/2'])
    expect(ids(await call(T, T))).toEqual([]) // the default range is the last 24 h
    const first = (await call(T, `${T}?${range}&limit=1`)).json as List
    expect(first.dead_letters[0]).toMatchObject({ reason: 'F2_DB_ROW_REJECTED', mac: ONLINE, record: { reason: 'F2_DB_ROW_REJECTED', offset: 3 } })
  })

  it('pages with a cursor, rows with the same time included', async () => {
    const seen: string[] = []
    let path = `${T}?${range}&limit=2`
    for (let i = 0; i < 5; i++) {
      const a = await call(T, path)
      seen.push(...ids(a))
      const next = (a.json as List).next_cursor
      if (next === null) break
      path = `${T}?${range}&limit=2&cursor=${next}`
    }
    expect(seen).toEqual(['0/3', '1/2', '1/1', '0/2', '0/1'])
  })

  it.each([
    ['reason=F2_NOT_A_CODE', 'reason', ErrorCodes.API_PARAMETER_INVALID],
    ['mac=12', 'mac', ErrorCodes.API_PARAMETER_INVALID],
    ['stage=simulator', 'stage', ErrorCodes.API_PARAMETER_INVALID],
    ['cursor=bm9wZQ', 'cursor', ErrorCodes.API_PARAMETER_INVALID],
    ['from=2024-01-01T00:00:00Z&to=2024-05-01T00:00:00Z', 'from', ErrorCodes.API_RANGE_TOO_LARGE]
  ])('?%s → 400 %s (%s)', async (query, parameter, code) => {
    const a = await call(T, `${T}?${query}`)
    expect([a.status, errorOf(a)]).toEqual([400, { code, parameter }])
  })
})

describe('the rest of the surface', () => {
  it('other methods → 405 with Allow; unknown routes → 404', async () => {
    for (const [template, path] of [['/api/devices', '/api/devices'], ['/api/devices/{mac}', `/api/devices/${ONLINE}`], ['/api/dead-letters', '/api/dead-letters']]) {
      const a = await call(template as string, path as string, { method: 'DELETE' })
      expect([a.status, errorOf(a).code, a.headers.get('allow')]).toEqual([405, ErrorCodes.API_METHOD_NOT_ALLOWED, 'GET, HEAD'])
    }
    const missing = await get(`${api.base}/api/things`, { token })
    expect([missing.status, errorOf(missing).code]).toEqual([404, ErrorCodes.API_NOT_FOUND])
  })

  it('HEAD answers like GET without a body', async () => {
    const a = await get(`${api.base}/api/devices`, { token, method: 'HEAD' })
    expect([a.status, a.text]).toEqual([200, ''])
  })

  it('counts requests by route and status, and refusals by reason', async () => {
    const text = await (await fetch(`${api.base}/metrics`)).text()
    expect(text).toMatch(/f2_api_requests_total\{route="devices",status="200",service="api"\} [1-9]/)
    expect(text).toMatch(/f2_api_requests_total\{route="readings",status="400",service="api"\} [1-9]/)
    expect(text).toMatch(/f2_api_auth_failures_total\{reason="scope",service="api"\} [1-9]/)
    expect(text).toMatch(/f2_api_request_duration_seconds_count\{service="api",route="device"\} [1-9]/)
    const ready = await get(`${api.base}/readyz`)
    expect([ready.status, ready.json]).toEqual([200, { status: 'ready', checks: { timeseries: true, registry: true } }])
  })

  it('every documented 200 answer has been validated against the document', () => {
    for (const [path, ops] of Object.entries(openapiDoc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        // The command routes are covered by commands.test.ts.
        if (((op as { tags?: string[] }).tags ?? []).includes('commands')) continue
        for (const [status, response] of Object.entries(op.responses)) {
          if (status !== '200' && status !== '400' && status !== '401') continue
          if (path === '/api/openapi.json' && status !== '200') continue
          for (const media of Object.keys(response.content ?? {})) {
            expect(validated.has(`${method.toUpperCase()} ${path} ${status} ${media}`), `${method} ${path} ${status} ${media}`).toBe(true)
          }
        }
      }
    }
  })
})
