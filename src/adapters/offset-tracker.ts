/**
 * Pure bookkeeping of Kafka positions for a consumer that commits explicit offsets.
 *
 * A consumer stream may hand the same record out twice: after a group rebalance it re-fetches
 * every kept partition from the last committed offset while records fetched earlier are still
 * buffered. The tracker remembers, per partition, the next offset expected and rejects anything
 * below it, so a record is processed once per process lifetime unless the caller rewinds
 * (`clear`, after a failed batch, when the consumer is rebuilt from committed offsets).
 */
export interface TopicPartitionOffset {
  topic: string
  partition: number
  /** For commits: the next offset to read (last processed + 1), as Kafka expects. */
  offset: bigint
}

export interface PositionedRecord {
  topic: string
  partition: number
  offset: bigint
}

export function partitionKey (topic: string, partition: number): string {
  return `${topic}:${partition}`
}

export class OffsetTracker {
  readonly #positions = new Map<string, bigint>()

  /** True when the record is new (at or beyond the expected position); advances the position. */
  accept (record: PositionedRecord): boolean {
    const key = partitionKey(record.topic, record.partition)
    const expected = this.#positions.get(key)
    // Gaps are normal (transaction markers, aborted records), so only going backwards is refused.
    if (expected !== undefined && record.offset < expected) return false
    this.#positions.set(key, record.offset + 1n)
    return true
  }

  /** Forgets partitions this member no longer owns, so a later owner's history is not assumed. */
  retainOnly (owned: ReadonlySet<string>): void {
    for (const key of this.#positions.keys()) {
      if (!owned.has(key)) this.#positions.delete(key)
    }
  }

  clear (): void {
    this.#positions.clear()
  }

  position (topic: string, partition: number): bigint | undefined {
    return this.#positions.get(partitionKey(topic, partition))
  }
}

/**
 * The offsets to commit once every record of `records` is safely handled downstream:
 * per partition, the highest offset seen + 1. Records may be in any order.
 */
export function commitOffsets (records: Iterable<PositionedRecord>): TopicPartitionOffset[] {
  const next = new Map<string, TopicPartitionOffset>()
  for (const r of records) {
    const key = partitionKey(r.topic, r.partition)
    const current = next.get(key)
    if (current === undefined || r.offset + 1n > current.offset) {
      next.set(key, { topic: r.topic, partition: r.partition, offset: r.offset + 1n })
    }
  }
  return [...next.values()].sort((a, b) => a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition)
}
