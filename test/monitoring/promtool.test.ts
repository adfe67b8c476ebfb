import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT, ruleFiles } from './expressions.ts'

// promtool comes with Debian's prometheus package, like the Prometheus the native stack runs.
const promtool = (...args: string[]): string => execFileSync('promtool', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

describe('promtool', () => {
  it.each(['prometheus.yml', 'prometheus.native.yml'])('accepts monitoring/prometheus/%s with its rule files', file => {
    expect(promtool('check', 'config', join('monitoring/prometheus', file))).toMatch(/SUCCESS/)
  })

  it('accepts every rule file', () => {
    const files = ruleFiles()
    expect(files.length).toBeGreaterThan(0)
    expect(promtool('check', 'rules', ...files)).toMatch(/SUCCESS/)
  })

  it('passes the alert unit tests (alerts fire on the conditions they describe)', () => {
    expect(promtool('test', 'rules', 'monitoring/prometheus/rules/tests/f2-alerts.test.yml')).toMatch(/SUCCESS/)
  })
})
