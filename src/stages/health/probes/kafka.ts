import { Admin } from '@platformatic/kafka'
import type { LagTarget } from '../config.ts'
import { abortable, type Probe } from './types.ts'

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
 * Asks the cluster for its metadata (brokers, topics) and, for every configured consumer
 * group, its committed offsets against the log end offsets: the lag. The Admin client is
 * kept between checks and replaced after a failure. `onLag` receives each reading.
 */
export function kafkaProbe (options: {
  brokers: string[]
  lag: LagTarget[]
  timeoutMs: number
  onLag?: (reading: LagReading) => void
}): Probe {
  let admin: Admin | undefined
  const drop = async (): Promise<void> => {
    const old = admin
    admin = undefined
    await old?.close().catch(() => {})
  }

  async function lagOf (client: Admin, target: LagTarget, partitions: number, signal: AbortSignal): Promise<LagReading> {
    const indexes = Array.from({ length: partitions }, (_, i) => i)
    const [groups, ends, starts] = await abortable(signal, Promise.all([
      client.listConsumerGroupOffsets({ groups: [{ groupId: target.group, topics: [{ name: target.topic, partitionIndexes: indexes }] }] }),
      client.listOffsets({ topics: [{ name: target.topic, partitions: indexes.map(i => ({ partitionIndex: i, timestamp: -1n })) }] }),
      client.listOffsets({ topics: [{ name: target.topic, partitions: indexes.map(i => ({ partitionIndex: i, timestamp: -2n })) }] })
    ]))
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

  return {
    name: 'kafka',
    kind: 'kafka',
    critical: true,
    async check (signal) {
      admin ??= new Admin({
        clientId: 'f2-health',
        bootstrapBrokers: options.brokers,
        timeout: options.timeoutMs,
        retries: 0,
        connectTimeout: options.timeoutMs
      })
      const client = admin
      try {
        const known = await abortable(signal, client.listTopics({ includeInternals: false }))
        const wanted = [...new Set(options.lag.map(l => l.topic))]
        const present = wanted.filter(t => known.includes(t))
        const metadata = await abortable(signal, client.metadata({ topics: present, forceUpdate: true }))
        const partitionsOf = new Map([...metadata.topics].map(([name, t]) => [name, t.partitionsCount]))
        const lag: LagReading[] = []
        for (const target of options.lag) {
          const partitions = partitionsOf.get(target.topic)
          if (partitions === undefined) continue
          const reading = await lagOf(client, target, partitions, signal)
          options.onLag?.(reading)
          lag.push(reading)
        }
        return {
          brokers: [...metadata.brokers.values()].map(b => `${b.host}:${b.port}`),
          controller: metadata.controllerId,
          topics: known.filter(t => !t.startsWith('__')).sort(),
          missing_topics: wanted.filter(t => !known.includes(t)),
          lag
        }
      } catch (err) {
        await drop()
        throw err
      }
    },
    close: drop
  }
}
