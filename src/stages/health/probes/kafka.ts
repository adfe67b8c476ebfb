import { Admin } from '@platformatic/kafka'
import { readLag, type LagReading, type LagTarget } from '../../../adapters/kafka-lag.ts'
import { abortable, type Probe } from './types.ts'

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
          const reading = await abortable(signal, readLag(client, target, partitions))
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
