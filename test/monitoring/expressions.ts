import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const RULES_DIR = join(ROOT, 'monitoring/prometheus/rules')
export const DASHBOARDS_DIR = join(ROOT, 'monitoring/grafana/dashboards')

export interface Expression { where: string, expr: string }

export const ruleFiles = (): string[] => readdirSync(RULES_DIR).filter(f => f.endsWith('.yml')).map(f => join(RULES_DIR, f))

/** `expr:` values of every rule (single line or `>`/`|` blocks are not used in our files). */
export function ruleExpressions (): Expression[] {
  const out: Expression[] = []
  for (const file of ruleFiles()) {
    const lines = readFileSync(file, 'utf8').split('\n')
    let name = ''
    for (const line of lines) {
      const named = /^\s*-\s*(?:record|alert):\s*(\S+)/.exec(line)
      if (named !== null) name = named[1] as string
      const m = /^\s*expr:\s*(.+)$/.exec(line)
      if (m !== null) {
        if (/^[>|]/.test(m[1] as string)) throw new Error(`${file}: block scalars are not supported by this extractor`)
        out.push({ where: `${file.slice(ROOT.length)} ${name}`, expr: (m[1] as string).trim() })
      }
    }
  }
  return out
}

export interface Dashboard {
  file: string
  json: {
    uid: string
    title: string
    panels: Array<{ title: string, type: string, datasource?: { uid: string }, targets?: Array<Record<string, unknown>> }>
    templating: { list: Array<{ name: string, query: unknown, datasource?: { uid: string } }> }
  }
}

export const dashboards = (): Dashboard[] => readdirSync(DASHBOARDS_DIR).filter(f => f.endsWith('.json'))
  .map(f => ({ file: f, json: JSON.parse(readFileSync(join(DASHBOARDS_DIR, f), 'utf8')) as Dashboard['json'] }))

/** Every target of every panel (and template variable) whose datasource has `uid`. */
export function dashboardQueries (uid: string, field: 'expr' | 'rawSql'): Expression[] {
  const out: Expression[] = []
  for (const d of dashboards()) {
    for (const panel of d.json.panels) {
      for (const t of panel.targets ?? []) {
        const ds = (t.datasource as { uid?: string } | undefined)?.uid ?? panel.datasource?.uid
        if (ds === uid && typeof t[field] === 'string') out.push({ where: `${d.file} "${panel.title}" ${String(t.refId)}`, expr: t[field] })
      }
    }
    for (const v of d.json.templating.list) {
      if (v.datasource?.uid === uid && typeof v.query === 'string') out.push({ where: `${d.file} variable ${v.name}`, expr: v.query })
    }
  }
  return out
}

/** Grafana's interval variables, replaced as Grafana would for a one-hour view. */
export function expandPromql (expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$__interval', '15s').replaceAll('$__range', '1h')
}

/**
 * Grafana's PostgreSQL macros as Grafana expands them (time range: the last six hours),
 * and the dashboard's variables with `values` (multi-value variables become quoted lists).
 */
export function expandSql (sql: string, variables: Record<string, string[]>): string {
  const from = "'now'::timestamptz - interval '6 hours'"
  const to = "'now'::timestamptz"
  let out = sql
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_m, col: string) => `${col.trim()} BETWEEN ${from} AND ${to}`)
    .replace(/\$__timeGroupAlias\(([^,]+),\s*([^)]+)\)/g, (_m, col: string, interval: string) =>
      `floor(extract(epoch from ${col.trim()})/${seconds(interval.trim())})*${seconds(interval.trim())} AS "time"`)
    .replace(/\$__timeFrom\(\)/g, from).replace(/\$__timeTo\(\)/g, to)
  for (const [name, values] of Object.entries(variables)) {
    out = out.replaceAll(`$${name}`, values.map(v => `'${v.replaceAll("'", "''")}'`).join(','))
  }
  if (/\$\w/.test(out.replace(/\$\d+/g, ''))) throw new Error(`unexpanded variable or macro in: ${out}`)
  return out
}

function seconds (interval: string): number {
  if (interval === '$__interval') return 60
  const m = /^'?(\d+)([smhd])'?$/.exec(interval)
  if (m === null) throw new Error(`unknown interval ${interval}`)
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd']
}
