import { describe, expect, it } from 'vitest'
import { commitOffsets, OffsetTracker, partitionKey } from '../../src/adapters/offset-tracker.ts'

const rec = (partition: number, offset: number, topic = 't') => ({ topic, partition, offset: BigInt(offset) })

describe('OffsetTracker', () => {
  it('accepts new records and refuses what was already handed out (re-fetch after a rebalance)', () => {
    const t = new OffsetTracker()
    expect([0, 1, 2].map(o => t.accept(rec(0, o)))).toEqual([true, true, true])
    expect(t.position('t', 0)).toBe(3n)
    expect(t.accept(rec(0, 1))).toBe(false)
    expect(t.accept(rec(0, 2))).toBe(false)
    expect(t.accept(rec(0, 3))).toBe(true)
  })

  it('accepts gaps (transaction markers, aborted records)', () => {
    const t = new OffsetTracker()
    expect(t.accept(rec(0, 5))).toBe(true)
    expect(t.accept(rec(0, 9))).toBe(true)
    expect(t.position('t', 0)).toBe(10n)
  })

  it('tracks partitions and topics independently', () => {
    const t = new OffsetTracker()
    t.accept(rec(0, 10))
    expect(t.accept(rec(1, 0))).toBe(true)
    expect(t.accept(rec(0, 0, 'u'))).toBe(true)
    expect(t.accept(rec(0, 10))).toBe(false)
  })

  it('forgets partitions no longer owned and everything on clear', () => {
    const t = new OffsetTracker()
    t.accept(rec(0, 10))
    t.accept(rec(1, 10))
    t.retainOnly(new Set([partitionKey('t', 1)]))
    expect(t.position('t', 0)).toBeUndefined()
    expect(t.accept(rec(0, 3))).toBe(true)
    expect(t.accept(rec(1, 3))).toBe(false)
    t.clear()
    expect(t.accept(rec(1, 3))).toBe(true)
  })
})

describe('commitOffsets', () => {
  it('commits the highest offset + 1 per partition, in any order', () => {
    const out = commitOffsets([rec(1, 4), rec(0, 7), rec(1, 9), rec(0, 2), rec(0, 0, 'a')])
    expect(out).toEqual([
      { topic: 'a', partition: 0, offset: 1n },
      { topic: 't', partition: 0, offset: 8n },
      { topic: 't', partition: 1, offset: 10n }
    ])
  })

  it('commits nothing for an empty batch', () => {
    expect(commitOffsets([])).toEqual([])
  })

  it('matches a brute-force maximum on random batches', () => {
    for (let round = 0; round < 200; round++) {
      const records = Array.from({ length: 1 + Math.floor(Math.random() * 50) }, () => rec(Math.floor(Math.random() * 4), Math.floor(Math.random() * 1000)))
      const expected = new Map<number, bigint>()
      for (const r of records) expected.set(r.partition, (expected.get(r.partition) ?? -1n) > r.offset ? expected.get(r.partition) as bigint : r.offset)
      const got = commitOffsets(records)
      expect(got.length).toBe(expected.size)
      for (const o of got) expect(o.offset).toBe((expected.get(o.partition) as bigint) + 1n)
    }
  })
})
