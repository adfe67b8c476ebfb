import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startHttp, type HttpHandle } from '../../src/adapters/http.ts'
import { createRegistry } from '../../src/adapters/metrics.ts'
import { healthRoutes } from '../../src/stages/health/routes.ts'
import type { Monitor } from '../../src/stages/health/monitor.ts'
import { ABUSE_CASES, abuseHttp, rawRequest } from '../../harness/http-abuse.ts'

/** The shared HTTP surface with the health monitor's routes (the only routes that read the path). */
describe('HTTP server against malformed requests', () => {
  let http: HttpHandle
  const monitor = {
    report: () => ({ status: 'healthy', services: { kafka: {} } }),
    component: (name: string) => name === 'kafka' ? { status: 'healthy' } : undefined
  } as unknown as Monitor

  beforeAll(async () => {
    http = await startHttp({
      host: '127.0.0.1', port: 0, registry: createRegistry('http-test'), readiness: () => ({ ready: true, checks: {} }),
      routes: healthRoutes(monitor, () => ({}) as never), headersTimeoutMs: 1000, requestTimeoutMs: 2000
    })
  })
  afterAll(async () => { await http?.close() })

  it('answers the two requests that used to kill a service with 400, and goes on', async () => {
    expect(await rawRequest(http.port, 'GET http://[/ HTTP/1.1\r\nHost: x\r\n\r\n')).toBe(400)
    expect(await rawRequest(http.port, 'GET /health/%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n')).toBe(400)
    expect(await rawRequest(http.port, 'GET /health/kafka HTTP/1.1\r\nHost: x\r\n\r\n')).toBe(200)
    expect(await rawRequest(http.port, 'GET /health/nope HTTP/1.1\r\nHost: x\r\n\r\n')).toBe(404)
  })

  it(`survives every abuse case (${ABUSE_CASES.length}) and cuts off a slow client`, async () => {
    expect(await abuseHttp(http.port, 4000)).toEqual([])
  }, 20_000)
})
