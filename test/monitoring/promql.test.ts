import { beforeAll, describe, expect, it } from 'vitest'
import { stackEnv } from '../helpers/stack.ts'
import { dashboardQueries, expandPromql, ruleExpressions, type Expression } from './expressions.ts'

const prometheus = stackEnv().prometheusUrl

async function evaluate (expr: string): Promise<{ status: string, error?: string }> {
  const res = await fetch(`${prometheus}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: expr })
  })
  return await res.json() as { status: string, error?: string }
}

const rules = ruleExpressions()
const panels = dashboardQueries('f2-prometheus', 'expr')

describe('PromQL against the running Prometheus', () => {
  beforeAll(async () => {
    // Pick up the current rule files (the stack may have started before they changed).
    const res = await fetch(`${prometheus}/-/reload`, { method: 'POST' })
    expect(res.status).toBe(200)
  })

  it('has every rule group of monitoring/prometheus/rules loaded', async () => {
    const body = await fetch(`${prometheus}/api/v1/rules`).then(r => r.json()) as { data: { groups: Array<{ name: string, rules: Array<{ name: string, health: string, lastError?: string }> }> } }
    const loaded = body.data.groups.flatMap(g => g.rules)
    const names = rules.map(r => r.where.split(' ')[1])
    for (const name of names) expect(loaded.map(r => r.name)).toContain(name)
    expect(loaded.filter(r => r.health === 'err')).toEqual([])
  })

  it('finds expressions to check in the rules and in the dashboards', () => {
    expect(rules.length).toBeGreaterThan(20)
    expect(panels.length).toBeGreaterThan(30)
  })

  it.each([...rules, ...panels].map(e => [e.where, e] as [string, Expression]))('%s evaluates', async (_where, e) => {
    const result = await evaluate(expandPromql(e.expr))
    expect(result.error).toBeUndefined()
    expect(result.status).toBe('success')
  })
})
