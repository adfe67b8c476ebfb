import { compatibilityPartitioner } from '@platformatic/kafka'
import type { KafkaRecord } from '../../adapters/kafka.ts'

/**
 * How the processor's outputs are cut into produce requests: which partition each record
 * goes to, and how many bytes one request carries per partition and in all. Pure: the
 * partition counts come from the caller (the producer's metadata cache).
 */

/**
 * Sets each record's partition to where the producer would put it (the same Java-compatible
 * murmur2 of the key, modulo the partition count), so that produce requests can be cut per
 * partition and the client does not hash again. The records of one message share their key
 * Buffer, so the hash runs once per message. A topic missing from `topics` has one partition.
 */
export function assignPartitions (records: KafkaRecord[], topics: ReadonlyMap<string, { partitionsCount: number }>): void {
  let lastKey: Buffer | undefined
  let lastTopic = ''
  let partition = 0
  for (const record of records) {
    if (record.key !== lastKey || record.topic !== lastTopic) {
      lastKey = record.key
      lastTopic = record.topic
      partition = compatibilityPartitioner(record, record.key) % (topics.get(record.topic)?.partitionsCount ?? 1)
    }
    record.partition = partition
  }
}

/** A record's topic-partition (for `chunkRecords`), once its partition is set. */
export function partitionOf (record: { topic: string, partition?: number }): string {
  return `${record.topic}:${record.partition ?? -1}`
}

/** What one partition's record batch in a produce request may carry (see chunkRecords). */
export const SEND_CHUNK_BYTES = 768 * 1024
/** What one produce request may carry in all (far below the broker's socket.request.max.bytes). */
export const SEND_REQUEST_BYTES = 4 * 1024 * 1024
const CHUNK_RECORD_OVERHEAD_BYTES = 64

/**
 * Cuts outputs into produce requests under the broker's record-batch limit (message.max.bytes,
 * 1 MiB by default, per partition) with room for record overhead: a decoded sensor frame fans
 * out into several measurements, so one input batch can be several MiB of output. With
 * `partitionOf` (the partition a record will go to) each partition's share of a request is
 * bounded, so a request carries up to `maxRequestBytes`; without it, the whole request is
 * bounded by `maxBytes`. Order is kept; a record larger than the limit travels alone.
 */
export function * chunkRecords<R extends { key?: Buffer | null, value?: Buffer | null }> (
  records: R[],
  maxBytes = SEND_CHUNK_BYTES,
  partitionOf?: (record: R) => string,
  maxRequestBytes = SEND_REQUEST_BYTES
): Generator<R[]> {
  let start = 0
  let total = 0
  const perPartition = new Map<string, number>()
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as R
    const size = (r.value?.length ?? 0) + (r.key?.length ?? 0) + CHUNK_RECORD_OVERHEAD_BYTES
    const partition = partitionOf?.(r) ?? ''
    const used = perPartition.get(partition) ?? 0
    if (i > start && (used + size > maxBytes || total + size > maxRequestBytes)) {
      yield records.slice(start, i)
      start = i
      total = 0
      perPartition.clear()
    }
    perPartition.set(partition, (perPartition.get(partition) ?? 0) + size)
    total += size
  }
  if (start < records.length) yield start === 0 ? records : records.slice(start)
}
