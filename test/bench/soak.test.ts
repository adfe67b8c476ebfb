import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { projectRoot } from '../../src/stack/config.ts'

/**
 * `npm run soak` end to end at a small scale (24 s at 200 messages/s against the real stack):
 * the series is recorded at every interval (RSS of each service, lag of each consumer group,
 * rows behind), and the final accounting finds every message. Flatness needs a long run; a
 * 24 s one only shows that the report has what the verdict is computed from.
 */
const root = projectRoot()
let dir: string | undefined
afterEach(() => { if (dir !== undefined) rmSync(dir, { recursive: true, force: true }) })

describe('soak mode', () => {
  it('records RSS, lag and rows behind over time and accounts for every message', () => {
    dir = mkdtempSync(join(tmpdir(), 'f2-soak-test-'))
    const out = relative(root, join(dir, 'soak'))
    const run = spawnSync(process.execPath, [join(root, 'bench', 'soak.ts'), '--minutes', '0.4', '--rate', '200', '--devices', '20', '--interval', '3', '--out', out], { cwd: root, encoding: 'utf8', timeout: 240_000 })
    const report = JSON.parse(readFileSync(join(root, `${out}.json`), 'utf8')) as {
      summary: { sent: number, landed: number, deadLettered: number, lost: number, duplicated: number, verdict: { lossless: boolean } }
      points: Array<{ t: number, acked: number, behindRows: number, lag: { processor: number, sink: number }, rssMb: Record<string, number> }>
    }
    expect(report.points.length, run.stderr.slice(-2000)).toBeGreaterThanOrEqual(6)
    for (const p of report.points) {
      for (const s of ['connector', 'processor', 'sink']) expect(p.rssMb[s]).toBeGreaterThan(20)
      expect(p.lag.processor).toBeGreaterThanOrEqual(0)
      expect(p.lag.sink).toBeGreaterThanOrEqual(0)
    }
    expect(report.points.at(-1)?.acked).toBeGreaterThan(200 * 18)
    expect(report.summary.lost).toBe(0)
    expect(report.summary.duplicated).toBe(0)
    expect(report.summary.landed + report.summary.deadLettered).toBe(report.summary.sent)
    expect(report.summary.verdict.lossless).toBe(true)
    expect(readFileSync(join(root, `${out}.md`), 'utf8')).toContain('| t (s) |')
  }, 300_000)
})
