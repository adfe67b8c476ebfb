import { describe, expect, it } from 'vitest'
import { loadItems, runCorpus } from '../../harness/corpus/runner.ts'

/**
 * Every item of the bad-input corpus (items.jsonl) ends as its expected rows or as a dead
 * letter with the expected reason and stage, through the real connector, processor and sink;
 * no service crashes or restarts (malformed HTTP requests and a slow client included), and
 * each stops cleanly afterwards.
 */
describe('bad-input corpus through the whole pipeline', () => {
  it('ends every item as the expected row or dead letter, and nothing crashes', async () => {
    const items = loadItems()
    expect(items.length).toBeGreaterThanOrEqual(40)
    const report = await runCorpus(items)
    expect(report.failed.map(f => `${f.id}: ${f.problem}`)).toEqual([])
    expect(report.passed).toBe(items.length)
    expect(report.http).toEqual({ connector: [], processor: [], sink: [] })
    expect(report.servicesSurvived, JSON.stringify(report.exitCodes)).toBe(true)
  }, 300_000)
})
