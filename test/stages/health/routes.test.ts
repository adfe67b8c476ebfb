import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startHttp, type HttpHandle } from '../../../src/adapters/http.ts'
import { createRegistry } from '../../../src/adapters/metrics.ts'
import type { Monitor } from '../../../src/stages/health/monitor.ts'
import { healthRoutes } from '../../../src/stages/health/routes.ts'

describe('health monitor routes', () => {
  let http: HttpHandle
  let base: string
  const monitor = { report: () => ({ status: 'healthy', services: {} }), component: () => undefined } as unknown as Monitor

  beforeAll(async () => {
    http = await startHttp({
      host: '127.0.0.1', port: 0, registry: createRegistry('health-routes-test'), readiness: () => ({ ready: true, checks: {} }),
      routes: healthRoutes(monitor, () => ({}) as never)
    })
    base = `http://127.0.0.1:${http.port}`
  })
  afterAll(async () => { await http?.close() })

  it('redirects / to the status page (302), which a browser then shows', async () => {
    const res = await fetch(`${base}/`, { redirect: 'manual' })
    expect(res.status).toBe(302)
    expect(res.headers.get('location')).toBe('/status')
    expect(await res.text()).toBe('')
    const followed = await fetch(`${base}/`)
    expect(followed.url).toBe(`${base}/status`)
    expect(followed.status).toBe(200)
    expect(followed.headers.get('content-type')).toMatch(/text\/html/)
  })

  it('redirects only the root: a query keeps it, other unknown paths stay 404', async () => {
    expect((await fetch(`${base}/?from=bookmark`, { redirect: 'manual' })).status).toBe(302)
    expect((await fetch(`${base}/nothing-here`, { redirect: 'manual' })).status).toBe(404)
  })
})
