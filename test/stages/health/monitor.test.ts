import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startHttp, type HttpHandle } from '../../../src/adapters/http.ts'
import { createLogger } from '../../../src/adapters/logger.ts'
import { createRegistry } from '../../../src/adapters/metrics.ts'
import { loadHealthConfig } from '../../../src/stages/health/config.ts'
import { createHealthService, type HealthService } from '../../../src/stages/health/main.ts'
import type { ComponentState, HealthReport } from '../../../src/stages/health/monitor.ts'
import { parseExposition } from '../../../src/stages/health/prom-text.ts'
import type { StatusDocument } from '../../../src/stages/health/status.ts'
import { postgresEnv } from '../../../src/adapters/connections/postgres.ts'
import { roleUrl, stackEnv } from '../../../harness/stack.ts'
import { abuseHttp } from '../../../harness/http-abuse.ts'
import { freePort, startMosquitto } from './support.ts'
import { waitFor } from '../../../harness/wait.ts'

const INTERVAL_MS = 1000
const TIMEOUT_MS = 700

describe('health monitor (real broker, databases, Kafka, Prometheus)', () => {
  let health: HealthService
  let broker: { stop: () => Promise<void> }
  let brokerPort: number
  let service: HttpHandle
  let base: string

  beforeAll(async () => {
    brokerPort = await freePort()
    broker = await startMosquitto(brokerPort)
    service = await startHttp({ host: '127.0.0.1', port: 0, registry: createRegistry('fake-stage'), readiness: () => ({ ready: true, checks: {} }) })
    const env = stackEnv()
    const missing = await freePort()
    const config = loadHealthConfig({
      HEALTH_HOST: '127.0.0.1',
      HEALTH_PORT: '0',
      HEALTH_PROBE_INTERVAL_MS: String(INTERVAL_MS),
      HEALTH_PROBE_TIMEOUT_MS: String(TIMEOUT_MS),
      MQTT_BROKER: '127.0.0.1',
      MQTT_PORT: String(brokerPort),
      KAFKA_BOOTSTRAP_SERVERS: env.kafkaBootstrap,
      // As the stack runs it: the read-only roles.
      ...postgresEnv('registry', roleUrl('registry', 'reader')),
      ...postgresEnv('timeseries', roleUrl('timeseries', 'reader')),
      PROMETHEUS_URL: env.prometheusUrl,
      HEALTH_SERVICES: `stage=http://127.0.0.1:${service.port},absent=http://127.0.0.1:${missing}`
    })
    health = createHealthService(config, createLogger('health', 'silent'))
    await health.start()
    base = `http://127.0.0.1:${health.port()}`
  })

  afterAll(async () => {
    await health?.stop(5000)
    await service?.close()
    await broker?.stop()
  })

  it('serves the seed /health body', async () => {
    const res = await fetch(`${base}/health`)
    const body = await res.json() as HealthReport
    expect(Object.keys(body).sort()).toEqual(['counts', 'services', 'status', 'timestamp'])
    expect(Object.keys(body.services).sort()).toEqual(['absent', 'kafka', 'mqtt', 'prometheus', 'registry-db', 'stage', 'timeseries-db'])
    expect(body.services.absent?.status).toBe('unhealthy')
    expect(body.services.stage?.status).toBe('healthy')
    expect(body.services.mqtt?.status).toBe('healthy')
    // A service that is missing degrades the pipeline; the infrastructure is all there.
    expect(body.status).toBe('degraded')
    expect(res.status).toBe(200)
    expect(body.counts).toEqual({ healthy: 6, unhealthy: 1, total: 7 })
  })

  it('serves one component with its check duration, and 404 for an unknown one', async () => {
    const res = await fetch(`${base}/health/kafka`)
    expect(res.status).toBe(200)
    const body = await res.json() as ComponentState
    expect(body).toMatchObject({ name: 'kafka', status: 'healthy' })
    expect(body.check_duration_ms).toBeGreaterThan(0)
    expect((body.details.lag as Array<{ group: string }>).map(l => l.group)).toEqual(expect.arrayContaining(['iot-processor', 'iot-sink']))
    expect((await fetch(`${base}/health/absent`)).status).toBe(503)
    expect((await fetch(`${base}/health/nope`)).status).toBe(404)
  })

  it('reports a stopped broker down within one probe interval, and up again after its restart', async () => {
    await broker.stop()
    const stoppedAt = Date.now()
    const downAfter = await waitFor('mqtt reported down', () => health.monitor.component('mqtt')?.status === 'unhealthy', INTERVAL_MS + TIMEOUT_MS + 500)
    expect(downAfter).toBeLessThanOrEqual(INTERVAL_MS + TIMEOUT_MS + 500)
    const res = await fetch(`${base}/health`)
    expect(res.status).toBe(503)
    expect(((await res.json()) as { status: string }).status).toBe('unhealthy')
    expect(await fetch(`${base}/metrics`).then(r => r.text())).toContain('f2_health_component_up{component="mqtt",service="health"} 0')

    broker = await startMosquitto(brokerPort)
    await waitFor('mqtt reported up', () => health.monitor.component('mqtt')?.status === 'healthy', INTERVAL_MS + TIMEOUT_MS + 1000)
    expect(Date.now() - stoppedAt).toBeLessThan(10_000)
    expect(await fetch(`${base}/metrics`).then(r => r.text())).toContain('f2_health_component_up{component="mqtt",service="health"} 1')
  })

  it('exports its documented metrics, lag included', async () => {
    const { types, samples } = parseExposition(await fetch(`${base}/metrics`).then(r => r.text()))
    expect(types.get('f2_health_component_up')).toBe('gauge')
    expect(types.get('f2_health_consumer_lag')).toBe('gauge')
    expect(samples.filter(s => s.name === 'f2_health_consumer_lag').map(s => s.labels.group).sort()).toEqual(['iot-fleet-state', 'iot-processor', 'iot-sink'])
    expect(samples.find(s => s.name === 'process_resident_memory_bytes')?.labels.service).toBe('health')
  })

  it('serves the status page and its JSON', async () => {
    const page = await fetch(`${base}/status`)
    expect(page.headers.get('content-type')).toMatch(/text\/html/)
    expect(await page.text()).toContain('api/status')
    const status = await fetch(`${base}/api/status`).then(r => r.json()) as StatusDocument
    expect(status.components.map(c => c.name)).toContain('mqtt')
    expect(status.stages.map(s => s.name)).toEqual(['stage', 'absent'])
    expect(status.stages[1]?.error).toBeTruthy()
    expect(status.lag.length).toBe(3)
    expect(status.devices).toHaveProperty('readings')
  })

  it('answers malformed requests with 4xx (the two that used to kill it: 400), cuts off a slow client, and goes on', async () => {
    expect(await abuseHttp(health.port(), 13_000)).toEqual([])
    expect((await fetch(`${base}/health/kafka`)).status).toBeLessThan(500)
  }, 30_000)
})
