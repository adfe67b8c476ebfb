import { describe, expect, it } from 'vitest'
import { parseExposition } from '../../../src/stages/health/prom-text.ts'
import { createRegistry, Counter, Histogram } from '../../../src/adapters/metrics.ts'

describe('parseExposition', () => {
  it('reads what prom-client writes, labels and histograms included', async () => {
    const registry = createRegistry('test')
    const c = new Counter({ name: 'f2_test_things_total', help: 'h', labelNames: ['reason'], registers: [registry] })
    const h = new Histogram({ name: 'f2_test_latency_seconds', help: 'h', buckets: [0.1, 1], registers: [registry] })
    c.inc({ reason: 'F2_A' }, 2)
    c.inc({ reason: 'with "quote" and \\ backslash' })
    h.observe(0.5)
    const { types, samples } = parseExposition(await registry.metrics())
    expect(types.get('f2_test_things_total')).toBe('counter')
    expect(types.get('f2_test_latency_seconds')).toBe('histogram')
    const things = samples.filter(s => s.name === 'f2_test_things_total').map(s => [s.labels.reason, s.value] as const)
    expect(new Map(things)).toEqual(new Map([['F2_A', 2], ['with "quote" and \\ backslash', 1]]))
    const buckets = samples.filter(s => s.name === 'f2_test_latency_seconds_bucket')
    expect(buckets.map(b => [b.labels.le, b.value])).toEqual([['0.1', 0], ['1', 1], ['+Inf', 1]])
    expect(samples.every(s => s.labels.service === 'test')).toBe(true)
  })

  it('rejects malformed lines with their line number', () => {
    expect(() => parseExposition('# TYPE x gauge\nx{a="1" 3\n')).toThrow(/line 2/)
    expect(() => parseExposition('x abc\n')).toThrow(/bad value/)
  })

  it('accepts special values and timestamps', () => {
    const { samples } = parseExposition('a +Inf\nb NaN\nc -1.5e3 1700000000000\n')
    expect(samples.map(s => s.value)).toEqual([Infinity, NaN, -1500])
  })
})
