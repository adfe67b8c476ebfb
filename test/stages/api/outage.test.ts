import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ErrorCodes } from '../../../src/core/errors.ts'
import type { ApiService } from '../../../src/stages/api/service.ts'
import { TokenStore } from '../../../src/stages/api/token-store.ts'
import { migratedDatabase, TcpProxy, type MigratedDatabase } from '../../storage/helpers.ts'
import { get, startApi } from './harness.ts'
import { validateResponse } from './openapi.ts'
import { waitForValue } from '../../../harness/wait.ts'

/** The time-series database goes away under the API (a proxy in front of it is cut) and comes back. */
let registry: MigratedDatabase
let timeseries: MigratedDatabase
let proxy: TcpProxy
let api: { service: ApiService, base: string }
let token: string

beforeAll(async () => {
  registry = await migratedDatabase('registry')
  timeseries = await migratedDatabase('timeseries')
  token = (await new TokenStore(registry.sql).create('outage', ['read'])).token
  proxy = new TcpProxy(timeseries.url)
  await proxy.up()
  api = await startApi(registry.url, proxy.rewrite(timeseries.url))
})

afterAll(async () => {
  await api?.service.stop(2000)
  await proxy?.down()
  await timeseries?.drop()
  await registry?.drop()
})

describe('a database outage', () => {
  it('answers 503 F2_DB_UNAVAILABLE with Retry-After and is not ready; both recover when the database is back', async () => {
    expect((await get(`${api.base}/api/devices`, { token })).status).toBe(200)
    await proxy.down()
    const down = await get(`${api.base}/api/devices?state=offline`, { token })
    validateResponse('/api/devices', 'get', down.status, down.headers.get('content-type') ?? '', down.json)
    expect([down.status, (down.json as { error: { code: string } }).error.code, down.headers.get('retry-after')]).toEqual([503, ErrorCodes.DB_UNAVAILABLE, '5'])
    await waitForValue('not ready', async () => (await get(`${api.base}/readyz`)).status === 503 ? true : undefined, 15_000, 200)

    await proxy.up()
    await waitForValue('answers again', async () => (await get(`${api.base}/api/devices`, { token })).status === 200 ? true : undefined, 15_000, 200)
    await waitForValue('ready again', async () => (await get(`${api.base}/readyz`)).status === 200 ? true : undefined, 15_000, 200)
    const metrics = await (await fetch(`${api.base}/metrics`)).text()
    expect(metrics).toMatch(/f2_api_requests_total\{route="devices",status="503",service="api"\} [1-9]/)
  })
})
