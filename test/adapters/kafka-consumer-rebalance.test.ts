import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProducer } from '../../src/adapters/kafka.ts'
import { createTempTopics, kafkaAdmin, stackEnv, uniqueName, type TempTopics } from '../../harness/stack.ts'

const CHILD = fileURLToPath(new URL('./fixtures/stalling-consumer.ts', import.meta.url))
const PARTITIONS = 3
const SESSION_TIMEOUT_MS = 6000

interface ChildView {
  proc: ChildProcess
  delivered: Set<string>
  started: Promise<void>
  errors: string[]
  /** Joins the consumer had seen at its last batch (1: the first join only). */
  rebalances: number
}

function startChild (topic: string, group: string): ChildView {
  const proc = spawn(process.execPath, [CHILD], {
    env: { ...process.env, BROKERS: stackEnv().kafkaBootstrap, TOPIC: topic, GROUP: group },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const view: ChildView = { proc, delivered: new Set(), errors: [], rebalances: 0, started: Promise.resolve() }
  view.started = new Promise((resolve, reject) => {
    proc.once('exit', code => reject(new Error(`consumer exited early (${code})`)))
    createInterface({ input: proc.stdout! }).on('line', line => {
      const msg = JSON.parse(line) as { started?: boolean, delivered?: Array<[number, string]>, rebalances?: number, error?: string, commitError?: string }
      if (msg.started === true) resolve()
      for (const [p, o] of msg.delivered ?? []) view.delivered.add(`${p}:${o}`)
      if (msg.rebalances !== undefined) view.rebalances = msg.rebalances
      if (msg.error !== undefined) view.errors.push(msg.error)
      if (msg.commitError !== undefined) view.errors.push(msg.commitError)
    })
  })
  return view
}

async function committedOffsets (group: string, topic: string): Promise<Map<number, bigint>> {
  const admin = kafkaAdmin()
  try {
    const [g] = await admin.listConsumerGroupOffsets({ groups: [group] })
    const out = new Map<number, bigint>()
    for (const t of g?.topics ?? []) {
      if (t.name !== topic) continue
      for (const p of t.partitions) if (p.committedOffset >= 0n) out.set(p.partitionIndex, p.committedOffset)
    }
    return out
  } finally {
    await admin.close()
  }
}

/**
 * A consumer frozen longer than its session timeout (SIGSTOP) is thrown out of its group while
 * records keep arriving; when it thaws it rejoins with a fetch of the old generation possibly
 * still in flight. Every record must still be handed out at least once, and the committed
 * offsets must never pass a record that was not handed out.
 */
describe('BatchConsumer across a rebalance caused by a frozen process (real Kafka)', () => {
  let topics: TempTopics
  let topic: string

  beforeAll(async () => {
    topic = uniqueName('bc-stall')
    topics = await createTempTopics([topic], PARTITIONS)
  })
  afterAll(async () => { await topics?.delete() })

  it('hands out every record at least once and never commits past an undelivered one', async () => {
    const group = uniqueName('bc-stall-g')
    const child = startChild(topic, group)
    const producer = createProducer({ clientId: 'bc-stall-producer', bootstrapBrokers: stackEnv().kafkaBootstrap.split(','), retries: 5 })
    const produced = new Array<number>(PARTITIONS).fill(0)
    let producing = true
    let n = 0
    // ~400 records/s: partition chosen explicitly, so offsets are 0..count-1 per partition.
    const load = (async () => {
      while (producing) {
        const messages = Array.from({ length: 40 }, () => {
          const partition = n % PARTITIONS
          return { topic, partition, key: Buffer.from(`k${n}`), value: Buffer.from(String(n++)) }
        })
        await producer.send({ messages })
        for (const m of messages) produced[m.partition] = (produced[m.partition] ?? 0) + 1
        await sleep(100)
      }
    })()
    try {
      await child.started
      await sleep(3000)
      expect(child.delivered.size).toBeGreaterThan(0)
      child.proc.kill('SIGSTOP')
      await sleep(SESSION_TIMEOUT_MS + 5000)
      child.proc.kill('SIGCONT')
      await sleep(8000)
      producing = false
      await load
      const total = produced.reduce((s, c) => s + c, 0)
      const expected: string[] = []
      for (let p = 0; p < PARTITIONS; p++) for (let o = 0; o < (produced[p] ?? 0); o++) expected.push(`${p}:${o}`)
      const until = Date.now() + 30_000
      while (Date.now() < until && expected.some(k => !child.delivered.has(k))) await sleep(250)
      // Let the last commits land before reading them back.
      await sleep(1500)
      const committed = await committedOffsets(group, topic)
      // The freeze must really have cost the membership, or this test proves nothing.
      expect(child.rebalances).toBeGreaterThanOrEqual(2)
      const missing = expected.filter(k => !child.delivered.has(k))
      expect({ total, missing: missing.length, firstMissing: missing.slice(0, 5) }).toEqual({ total, missing: 0, firstMissing: [] })
      for (let p = 0; p < PARTITIONS; p++) {
        const upTo = committed.get(p) ?? 0n
        expect(upTo).toBe(BigInt(produced[p] ?? 0))
        for (let o = 0n; o < upTo; o++) expect(child.delivered.has(`${p}:${o}`)).toBe(true)
      }
    } finally {
      producing = false
      await load.catch(() => {})
      await producer.close()
      child.proc.kill('SIGCONT')
      child.proc.kill('SIGTERM')
      await new Promise(resolve => { if (child.proc.exitCode !== null) resolve(undefined); else child.proc.once('exit', resolve) })
    }
  }, 90_000)
})
