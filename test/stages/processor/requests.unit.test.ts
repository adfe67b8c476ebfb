import { compatibilityPartitioner } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import { buildRecord } from '../../../src/adapters/kafka.ts'
import { assignPartitions, chunkRecords, partitionOf } from '../../../src/stages/processor/requests.ts'

describe('assignPartitions', () => {
  it('puts each record where the producer would (murmur2 of the key modulo the partition count), per topic', () => {
    const keys = Array.from({ length: 200 }, (_, i) => Buffer.from(`f2c0${String(i).padStart(8, '0')}`))
    const records = keys.flatMap(key => [buildRecord('decoded', key, Buffer.from('m1')), buildRecord('decoded', key, Buffer.from('m2')), buildRecord('dead', key, Buffer.from('d'))])
    assignPartitions(records, new Map([['decoded', { partitionsCount: 6 }], ['dead', { partitionsCount: 3 }]]))
    for (const r of records) {
      const count = r.topic === 'decoded' ? 6 : 3
      expect(r.partition).toBe(compatibilityPartitioner(r, r.key as Buffer) % count)
    }
    // The keys spread over every partition, and one key's records stay together.
    expect(new Set(records.filter(r => r.topic === 'decoded').map(r => r.partition)).size).toBe(6)
    expect(records[0]?.partition).toBe(records[1]?.partition)
    expect(partitionOf(records[0] as { topic: string, partition?: number })).toBe(`decoded:${records[0]?.partition}`)
  })

  it('gives a topic it has no partition count for one partition', () => {
    const records = [buildRecord('unknown', 'k', Buffer.from('v')), buildRecord('unknown', 'other', Buffer.from('v'))]
    assignPartitions(records, new Map())
    expect(records.map(r => r.partition)).toEqual([0, 0])
  })
})

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
