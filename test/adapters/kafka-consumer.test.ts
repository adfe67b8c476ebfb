import { Producer } from '@platformatic/kafka'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BatchConsumer, commitOffsets, type RawMessage } from '../../src/adapters/kafka-consumer.ts'
import { createLogger } from '../../src/adapters/logger.ts'
import { createTempTopics, stackEnv, uniqueName, type TempTopics } from '../../harness/stack.ts'
import { brokers, produceAll } from '../../harness/e2e-support.ts'

const logger = createLogger('kafka-consumer-test', 'warn')

function consumerFor (topic: string, groupId: string, maxBatch = 100): BatchConsumer {
  return new BatchConsumer({ bootstrapBrokers: brokers(), groupId, clientId: 'bc-test', topics: [topic], maxBatch, maxWaitMs: 50, maxBuffered: 300, logger })
}

async function drain (c: BatchConsumer, want: number, timeoutMs = 20_000): Promise<RawMessage[]> {
  const out: RawMessage[] = []
  const until = Date.now() + timeoutMs
  while (out.length < want && Date.now() < until) out.push(...await c.nextBatch(500))
  return out
}

describe('BatchConsumer (real Kafka)', () => {
  let topics: TempTopics
  let topic: string

  beforeAll(async () => {
    topic = uniqueName('bc')
    topics = await createTempTopics([topic], 2)
    await produceAll(Array.from({ length: 1000 }, (_, i) => ({ topic, key: Buffer.from(`k${i % 7}`), value: Buffer.from(String(i)) })))
  })
  afterAll(async () => { await topics?.delete() })

  it('hands out bounded batches and resumes after the committed offsets only', async () => {
    const group = uniqueName('bcg')
    const first = consumerFor(topic, group)
    await first.start()
    const got = await drain(first, 400)
    expect(got.length).toBeGreaterThanOrEqual(400)
    // Commit exactly the first 400 handed out, then stop: the rest must come again.
    const committed = got.slice(0, 400)
    await first.commit(commitOffsets(committed))
    await first.close()
    // Per partition, everything after the committed offset is delivered; nothing at or before it.
    const next = new Map(commitOffsets(committed).map(o => [o.partition, o.offset]))
    const second = consumerFor(topic, group)
    await second.start()
    const rest = await drain(second, 600)
    await second.close()
    const values = new Set([...committed, ...rest].map(m => m.value.toString()))
    expect(values.size).toBe(1000)
    for (const m of rest) expect(m.offset >= (next.get(m.partition) ?? 0n)).toBe(true)
    expect(rest.length).toBe(600)
  })

  it('pauses reading at maxBuffered and never hands out more than maxBatch', async () => {
    const c = consumerFor(topic, uniqueName('bcg'), 64)
    await c.start()
    const sizes: number[] = []
    let total = 0
    while (total < 1000) { const b = await c.nextBatch(2000); if (b.length === 0) break; sizes.push(b.length); total += b.length }
    await c.close()
    expect(total).toBe(1000)
    expect(Math.max(...sizes)).toBeLessThanOrEqual(64)
  })

  it('hides an aborted transaction from a read_committed consumer (exactly-once path)', async () => {
    const t = uniqueName('txn')
    const own = await createTempTopics([t], 1)
    const producer = new Producer({ clientId: 'txn-test', bootstrapBrokers: stackEnv().kafkaBootstrap.split(','), idempotent: true, acks: -1, transactionalId: uniqueName('tid') })
    try {
      const aborted = await producer.beginTransaction()
      await aborted.send({ messages: [{ topic: t, value: Buffer.from('aborted') }] })
      await aborted.abort()
      const kept = await producer.beginTransaction()
      await kept.send({ messages: [{ topic: t, value: Buffer.from('committed') }] })
      await kept.commit()
      const c = new BatchConsumer({ bootstrapBrokers: brokers(), groupId: uniqueName('txg'), clientId: 'bc-txn', topics: [t], maxBatch: 10, maxWaitMs: 500, maxBuffered: 10, readCommitted: true, logger })
      await c.start()
      const seen = (await drain(c, 2, 5000)).map(m => m.value.toString())
      await c.close()
      expect(seen).toEqual(['committed'])
    } finally {
      await producer.close()
      await own.delete()
    }
  })
})
