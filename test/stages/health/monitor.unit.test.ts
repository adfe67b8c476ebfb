import { describe, expect, it } from 'vitest'
import { createLogger } from '../../../src/adapters/logger.ts'
import { createRegistry } from '../../../src/adapters/metrics.ts'
import { createHealthMetrics } from '../../../src/stages/health/metrics.ts'
import { createMonitor, overallStatus } from '../../../src/stages/health/monitor.ts'
import type { Probe } from '../../../src/stages/health/probes/types.ts'

// Probes here are plain in-memory functions: this file tests the loop's bookkeeping
// (timeouts, state changes, metrics), the probes themselves are tested against real servers.
function probe (name: string, behaviour: () => Promise<Record<string, unknown>>, critical = true): Probe {
  return { name, kind: 'service', critical, check: signal => Promise.race([behaviour(), new Promise<never>((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))))]) }
}

const setup = (probes: Probe[], timeoutMs = 200) => {
  const registry = createRegistry('health')
  const monitor = createMonitor({ probes, intervalMs: 1000, timeoutMs, metrics: createHealthMetrics(registry), logger: createLogger('health', 'silent') })
  return { registry, monitor }
}

describe('overallStatus', () => {
  it('is healthy, degraded or unhealthy', () => {
    expect(overallStatus([{ status: 'healthy', critical: true }, { status: 'healthy', critical: false }])).toBe('healthy')
    expect(overallStatus([{ status: 'healthy', critical: true }, { status: 'unhealthy', critical: false }])).toBe('degraded')
    expect(overallStatus([{ status: 'unhealthy', critical: true }, { status: 'healthy', critical: false }])).toBe('unhealthy')
    expect(overallStatus([{ status: 'unhealthy', critical: false }])).toBe('unhealthy')
    expect(overallStatus([])).toBe('healthy')
  })
})

describe('createMonitor', () => {
  it('records success, failure and timeout with durations, counts and metrics', async () => {
    let up = true
    const { monitor, registry } = setup([
      probe('ok', async () => ({ answer: 42 })),
      probe('flaky', async () => { if (!up) throw new Error('refused'); return {} }, false),
      probe('hung', () => new Promise(() => {}), false)
    ])
    await monitor.runCycle()
    let report = monitor.report()
    expect(report.status).toBe('degraded')
    expect(report.counts).toEqual({ healthy: 2, unhealthy: 1, total: 3 })
    expect(report.services.ok).toMatchObject({ status: 'healthy', details: { answer: 42 }, consecutive_failures: 0 })
    expect(report.services.hung).toMatchObject({ status: 'unhealthy', error: 'no answer within 200 ms' })
    expect(report.services.hung?.check_duration_ms).toBeGreaterThanOrEqual(190)
    expect(Date.parse(report.timestamp)).not.toBeNaN()

    up = false
    await monitor.runCycle()
    report = monitor.report()
    expect(report.services.flaky).toMatchObject({ status: 'unhealthy', error: 'refused', consecutive_failures: 1 })
    expect(report.services.hung?.consecutive_failures).toBe(2)

    const text = await registry.metrics()
    expect(text).toContain('f2_health_component_up{component="ok",service="health"} 1')
    expect(text).toContain('f2_health_component_up{component="flaky",service="health"} 0')
    expect(text).toContain('f2_health_probes_total{component="hung",result="timeout",service="health"} 2')
    expect(text).toContain('f2_health_probes_total{component="flaky",result="failed",service="health"} 1')
  })

  it('keeps `since` until the status changes', async () => {
    let up = false
    const { monitor } = setup([probe('x', async () => { if (!up) throw new Error('down'); return {} })])
    await monitor.runCycle()
    const firstSince = monitor.component('x')?.since
    await new Promise(resolve => setTimeout(resolve, 5))
    await monitor.runCycle()
    expect(monitor.component('x')?.since).toBe(firstSince)
    up = true
    await monitor.runCycle()
    expect(monitor.component('x')).toMatchObject({ status: 'healthy', consecutive_failures: 0 })
    expect(monitor.component('x')?.since).not.toBe(firstSince)
  })

  it('runs cycles on its interval until stopped and closes the probes', async () => {
    let checks = 0
    let closed = false
    const p: Probe = { name: 'p', kind: 'service', critical: false, check: async () => { checks++; return {} }, close: async () => { closed = true } }
    const registry = createRegistry('health')
    const monitor = createMonitor({ probes: [p], intervalMs: 50, timeoutMs: 20, metrics: createHealthMetrics(registry), logger: createLogger('health', 'silent') })
    await monitor.start()
    expect(checks).toBe(1)
    await new Promise(resolve => setTimeout(resolve, 180))
    await monitor.stop()
    const after = checks
    expect(after).toBeGreaterThanOrEqual(3)
    expect(closed).toBe(true)
    await new Promise(resolve => setTimeout(resolve, 120))
    expect(checks).toBe(after)
  })
})
