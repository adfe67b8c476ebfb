import type { Admin } from '@platformatic/kafka'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildRecord } from '../../src/adapters/kafka.ts'
import { BatchConsumer, commitOffsets, type RawMessage } from '../../src/adapters/kafka-consumer.ts'
import { readLag } from '../../src/adapters/kafka-lag.ts'
import { createLogger } from '../../src/adapters/logger.ts'
import { brokers, produceAll } from '../../harness/e2e-support.ts'
import { createTempTopics, kafkaAdmin, uniqueName, uniqueTopicName, type TempTopics } from '../../harness/stack.ts'

const logger = createLogger('kafka-lag-test', 'warn')

/** `counts[p]` records on partition p. */
async function produce (topic: string, counts: number[]): Promise<void> {
  await produceAll(counts.flatMap((n, p) => Array.from({ length: n }, (_, i) => ({ ...buildRecord(topic, null, Buffer.from(`${p}-${i}`)), partition: p }))))
}

async function commit (admin: Admin, group: string, topic: string, offsets: Array<[partition: number, offset: bigint]>): Promise<void> {
  await admin.alterConsumerGroupOffsets({ groupId: group, topics: [{ name: topic, partitionOffsets: offsets.map(([partition, offset]) => ({ partition, offset })) }] })
}

describe('readLag (real Kafka)', () => {
  let topics: TempTopics
  let admin: Admin
  const [topic, emptyTopic, trimmedTopic, consumedTopic] = ['f2_lag', 'f2_lag_empty', 'f2_lag_trimmed', 'f2_lag_consumed'].map(uniqueTopicName) as [string, string, string, string]

  beforeAll(async () => {
    topics = await createTempTopics([topic, emptyTopic, trimmedTopic, consumedTopic], 2)
    admin = kafkaAdmin('f2-kafka-lag-test')
    // 5 records on partition 0, 3 on partition 1.
    await produce(topic, [5, 3])
  })
  afterAll(async () => {
    await admin?.close()
    await topics?.delete()
  })

  it('counts every record for a group that never committed, from the log start', async () => {
    const group = uniqueName('f2_lag_none')
    expect(await readLag(admin, { group, topic }, 2)).toEqual({ group, topic, lag: 8, committedPartitions: 0, partitions: 2 })
  })

  it('follows the committed offsets of each partition, down to zero at the log end', async () => {
    const group = uniqueName('f2_lag_group')
    await commit(admin, group, topic, [[0, 2n]])
    expect(await readLag(admin, { group, topic }, 2)).toEqual({ group, topic, lag: 3 + 3, committedPartitions: 1, partitions: 2 })
    await commit(admin, group, topic, [[0, 5n], [1, 1n]])
    expect(await readLag(admin, { group, topic }, 2)).toEqual({ group, topic, lag: 0 + 2, committedPartitions: 2, partitions: 2 })
    await commit(admin, group, topic, [[1, 3n]])
    expect(await readLag(admin, { group, topic }, 2)).toEqual({ group, topic, lag: 0, committedPartitions: 2, partitions: 2 })
    // New records behind the group's commits are lag again.
    await produce(topic, [0, 4])
    expect(await readLag(admin, { group, topic }, 2)).toEqual({ group, topic, lag: 4, committedPartitions: 2, partitions: 2 })
  })

  it('reads zero on an empty topic, committed or not', async () => {
    const group = uniqueName('f2_lag_empty')
    expect(await readLag(admin, { group, topic: emptyTopic }, 2)).toMatchObject({ lag: 0, committedPartitions: 0 })
    await commit(admin, group, emptyTopic, [[0, 0n], [1, 0n]])
    expect(await readLag(admin, { group, topic: emptyTopic }, 2)).toMatchObject({ lag: 0, committedPartitions: 2 })
  })

  it('measures a partition without a commit from the log start once older records are deleted', async () => {
    await produce(trimmedTopic, [6, 2])
    await admin.deleteRecords({ topics: [{ name: trimmedTopic, partitions: [{ partition: 0, offset: 4n }] }] })
    const group = uniqueName('f2_lag_trimmed')
    expect(await readLag(admin, { group, topic: trimmedTopic }, 2)).toMatchObject({ lag: 2 + 2, committedPartitions: 0 })
    await commit(admin, group, trimmedTopic, [[1, 1n]])
    expect(await readLag(admin, { group, topic: trimmedTopic }, 2)).toMatchObject({ lag: 2 + 1, committedPartitions: 1 })
  })

  it('sees the commits of a consumer in its group', async () => {
    await produce(consumedTopic, [10, 10])
    const group = uniqueName('f2_lag_consumer')
    const consumer = new BatchConsumer({ bootstrapBrokers: brokers(), groupId: group, clientId: 'f2-kafka-lag-test', topics: [consumedTopic], maxBatch: 100, maxWaitMs: 50, maxBuffered: 100, logger })
    try {
      await consumer.start()
      const got: RawMessage[] = []
      const until = Date.now() + 20_000
      while (got.length < 20 && Date.now() < until) got.push(...await consumer.nextBatch(500))
      expect(got).toHaveLength(20)
      // Commit what was handed out except the last 3 records of partition 0.
      const kept = got.filter(m => m.partition !== 0 || m.offset < 7n)
      expect(await consumer.commit(commitOffsets(kept))).toBe(true)
      expect(await readLag(admin, { group, topic: consumedTopic }, 2)).toEqual({ group, topic: consumedTopic, lag: 3, committedPartitions: 2, partitions: 2 })
    } finally {
      await consumer.close()
    }
  })

  it('rejects when the topic has fewer partitions than asked for', async () => {
    await expect(readLag(admin, { group: uniqueName('f2_lag_bad'), topic }, 3)).rejects.toThrow()
  })
})
