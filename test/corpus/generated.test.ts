import { describe, expect, it } from 'vitest'
import { runGenerated } from '../../harness/corpus/generated-runner.ts'

/**
 * The generated corpus at CI size: 3 000 seeded random messages through the real broker,
 * connector, processor and sink (`npm run corpus -- --generated 100000` runs the full one).
 * Every message ends as the rows and dead letters (stage and reason) the pipeline's pure parts
 * predict for it; nothing is refused, lost or added; no service crashes or restarts.
 */
describe('generated bad-input corpus through the whole pipeline', () => {
  it('accounts for every one of 3 000 seeded random messages as predicted rows or dead letters', async () => {
    const r = await runGenerated(3000, 20261130)
    expect(r.examples).toEqual([])
    expect({ refused: r.refused, unaccounted: r.unaccounted, rows: r.rows, deadLetters: r.deadLetters })
      .toEqual({ refused: 0, unaccounted: 0, rows: { ...r.rows, missing: 0, unexpected: 0 }, deadLetters: { ...r.deadLetters, missing: 0, unexpected: 0 } })
    // The corpus reaches both outcomes in bulk, and every generator branch ran.
    expect(r.rows.expected).toBeGreaterThan(500)
    expect(r.deadLetters.expected).toBeGreaterThan(1000)
    expect(Object.keys(r.byKind).sort()).toEqual(['boundary-size', 'deep-json', 'grammar', 'huge-numbers', 'near-grammar', 'outside-grammar', 'random-bytes', 'sensor'])
    expect(r.servicesSurvived, JSON.stringify(r.exitCodes)).toBe(true)
  }, 300_000)
})
