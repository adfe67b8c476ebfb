import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './expressions.ts'

export interface DocumentedMetric { service: string, name: string, type: string, labels: string[] }

const SECTION = /^## .*\(`f2_([a-z]+)_`\)\s*$/

/** The catalogue in docs/monitoring/metrics.md: one table per service, `| name | type | labels | meaning |`. */
export function documentedMetrics (path = join(ROOT, 'docs/monitoring/metrics.md')): DocumentedMetric[] {
  const out: DocumentedMetric[] = []
  let stage: string | undefined
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const section = SECTION.exec(line)
    if (section !== null) { stage = section[1]; continue }
    if (line.startsWith('## ')) { stage = undefined; continue }
    const row = /^\|\s*`([a-z0-9_]+)`\s*\|\s*(counter|gauge|histogram)\s*\|([^|]*)\|/.exec(line)
    if (row === null || stage === undefined) continue
    const labels = [...(row[3] as string).matchAll(/`([a-z_]+)`/g)].map(m => m[1] as string)
    out.push({ service: stage, name: row[1] as string, type: row[2] as string, labels })
  }
  return out
}
