import { beforeAll, describe, expect, it } from 'vitest'
import { stackPaths } from '../../src/stack/config.ts'
import { readState, runs } from '../../src/stack/state.ts'
import { stackEnv } from '../../harness/stack.ts'
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
    // Pick up the current rule files (the stack may have started before they changed). The
    // lifecycle API is off, so the reload is Prometheus' SIGHUP.
    const lastReload = async (): Promise<number> => {
      const body = await fetch(`${prometheus}/api/v1/query?query=prometheus_config_last_reload_success_timestamp_seconds`).then(r => r.json()) as { data: { result: Array<{ value: [number, string] }> } }
      return Number(body.data.result[0]?.value[1] ?? 0)
    }
    const before = await lastReload()
    const proc = readState(stackPaths().stateFile)?.processes.prometheus
    if (proc === undefined || !runs(proc.pid, proc.command)) throw new Error('the stack\'s Prometheus is not running')
    process.kill(proc.pid, 'SIGHUP')
    const until = Date.now() + 15_000
    while (await lastReload() <= before) {
      if (Date.now() > until) throw new Error('Prometheus did not reload within 15 s of SIGHUP')
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }, 30_000)

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
