import type { Admin } from '@platformatic/kafka'

/** A consumer group whose lag is measured on one topic. */
export interface LagTarget { group: string, topic: string }

/** Records the group has not consumed yet on one topic, summed over partitions. */
export interface LagReading extends LagTarget {
  lag: number
  /** Partitions on which the group has committed an offset. */
  committedPartitions: number
  partitions: number
}

/**
 * Lag of one partition. A group that never committed on a partition is measured from the
 * log start, which is where a consumer that resets to `earliest` begins.
 */
export function partitionLag (committed: bigint | undefined, start: bigint, end: bigint): number {
  const from = committed === undefined || committed < 0n ? start : committed
  return Number(end > from ? end - from : 0n)
}

/**
 * The lag of `target.group` on `target.topic` (which has `partitions` partitions): its
 * committed offsets against the log start and end offsets, in three requests sent together.
 * Rejects when any of them fails; it neither retries nor closes `client`.
 */
export async function readLag (client: Admin, target: LagTarget, partitions: number): Promise<LagReading> {
  const indexes = Array.from({ length: partitions }, (_, i) => i)
  const [groups, ends, starts] = await Promise.all([
    client.listConsumerGroupOffsets({ groups: [{ groupId: target.group, topics: [{ name: target.topic, partitionIndexes: indexes }] }] }),
    client.listOffsets({ topics: [{ name: target.topic, partitions: indexes.map(i => ({ partitionIndex: i, timestamp: -1n })) }] }),
    client.listOffsets({ topics: [{ name: target.topic, partitions: indexes.map(i => ({ partitionIndex: i, timestamp: -2n })) }] })
  ])
  const committed = new Map<number, bigint>()
  for (const p of groups[0]?.topics.find(t => t.name === target.topic)?.partitions ?? []) {
    if (p.committedOffset >= 0n) committed.set(p.partitionIndex, p.committedOffset)
  }
  const offsets = (list: typeof ends): Map<number, bigint> =>
    new Map((list.find(t => t.name === target.topic)?.partitions ?? []).map(p => [p.partitionIndex, p.offset]))
  const end = offsets(ends)
  const start = offsets(starts)
  let lag = 0
  for (const i of indexes) lag += partitionLag(committed.get(i), start.get(i) ?? 0n, end.get(i) ?? 0n)
  return { ...target, lag, committedPartitions: committed.size, partitions }
}
