import { describe, expect, it } from 'vitest'
import { createRegistry } from '../../src/adapters/metrics.ts'
import { createApiMetrics } from '../../src/stages/api/metrics.ts'
import { createFleetMetrics } from '../../src/stages/fleet/metrics.ts'
import { createHealthMetrics } from '../../src/stages/health/metrics.ts'
import { parseExposition } from '../../src/stages/health/prom-text.ts'
import { documentedMetrics } from './metrics-doc.ts'

describe('docs/monitoring/metrics.md', () => {
  const metrics = documentedMetrics()

  it('documents every stage with names prefixed by their stage, counters ending in _total', () => {
    expect(new Set(metrics.map(m => m.service))).toEqual(new Set(['simulator', 'connector', 'processor', 'sink', 'fleet', 'dispatcher', 'health', 'api']))
    for (const m of metrics) {
      // The fleet stage also exports the fleet's own series: f2_devices, f2_device_*.
      const fleetWide = m.service === 'fleet' && (m.name === 'f2_devices' || m.name.startsWith('f2_device_'))
      expect(m.name.startsWith(`f2_${m.service}_`) || fleetWide, m.name).toBe(true)
      expect(m.name.endsWith('_total'), m.name).toBe(m.type === 'counter')
      if (m.type === 'histogram' && !m.name.endsWith('_seconds')) expect(m.name, 'only sizes are unit-less histograms').toMatch(/_size$/)
    }
    expect(new Set(metrics.map(m => m.name)).size).toBe(metrics.length)
  })

  it.each([['health', createHealthMetrics], ['fleet', createFleetMetrics]] as const)('matches what the %s stage registers, name, type and labels', async (service, create) => {
    const registry = createRegistry(service)
    create(registry)
    const declared = (await registry.getMetricsAsJSON()).filter(m => m.name.startsWith('f2_'))
    const documented = metrics.filter(m => m.service === service)
    expect(declared.map(m => m.name).sort()).toEqual(documented.map(m => m.name).sort())
    const { types } = parseExposition(await registry.metrics())
    for (const m of documented) expect(types.get(m.name), m.name).toBe(m.type)
    for (const m of documented) {
      const metric = registry.getSingleMetric(m.name) as unknown as { labelNames: string[] }
      expect([...metric.labelNames].sort(), m.name).toEqual([...m.labels].sort())
    }
  })

  it('matches what the read API registers, name, type and labels', async () => {
    const { registry } = createApiMetrics(createRegistry('api'))
    const declared = (await registry.getMetricsAsJSON()).filter(m => m.name.startsWith('f2_'))
    const documented = metrics.filter(m => m.service === 'api')
    expect(declared.map(m => m.name).sort()).toEqual(documented.map(m => m.name).sort())
    const { types } = parseExposition(await registry.metrics())
    for (const m of documented) expect(types.get(m.name), m.name).toBe(m.type)
    for (const m of documented) {
      const metric = registry.getSingleMetric(m.name) as unknown as { labelNames: string[] }
      expect([...metric.labelNames].sort(), m.name).toEqual([...m.labels].sort())
    }
  })
})
