import { describe, expect, it } from 'vitest'
import { chunkRecords } from '../../../src/stages/processor/requests.ts'

describe('chunkRecords', () => {
  const rec = (n: number, size: number): { key: Buffer, value: Buffer } => ({ key: Buffer.from(String(n)), value: Buffer.alloc(size) })

  it('keeps every record, in order, each request under the limit', () => {
    const records = Array.from({ length: 5000 }, (_, i) => rec(i, 100 + (i * 37) % 900))
    const chunks = [...chunkRecords(records, 64 * 1024)]
    expect(chunks.flat()).toEqual(records)
    expect(chunks.length).toBeGreaterThan(1)
    for (const c of chunks) {
      expect(c.reduce((n, r) => n + r.value.length + r.key.length + 64, 0)).toBeLessThanOrEqual(64 * 1024)
    }
  })

  it('bounds each partition’s share of a request when it knows the partitions', () => {
    const records = Array.from({ length: 3000 }, (_, i) => rec(i, 200 + (i * 53) % 700))
    const partitionOf = (r: { key: Buffer }): string => String(Number(r.key.toString()) % 3)
    const chunks = [...chunkRecords(records, 64 * 1024, partitionOf, 160 * 1024)]
    expect(chunks.flat()).toEqual(records)
    const bytes = (rs: Array<{ key: Buffer, value: Buffer }>): number => rs.reduce((n, r) => n + r.value.length + r.key.length + 64, 0)
    for (const c of chunks) {
      expect(bytes(c)).toBeLessThanOrEqual(160 * 1024)
      for (const p of ['0', '1', '2']) expect(bytes(c.filter(r => partitionOf(r) === p))).toBeLessThanOrEqual(64 * 1024)
    }
    // Fewer requests than when the whole request is bounded by one partition's limit.
    expect(chunks.length).toBeLessThan([...chunkRecords(records, 64 * 1024)].length)
  })

  it('sends a small batch as is, and a record over the limit alone', () => {
    const small = [rec(1, 10), rec(2, 10)]
    expect([...chunkRecords(small, 1024)]).toEqual([small])
    const big = [rec(1, 10), rec(2, 5000), rec(3, 10)]
    expect([...chunkRecords(big, 1024)].map(c => c.length)).toEqual([1, 1, 1])
    expect([...chunkRecords([], 1024)]).toEqual([])
  })
})
