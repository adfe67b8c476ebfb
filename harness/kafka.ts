import { randomUUID } from 'node:crypto'
import { Consumer } from '@platformatic/kafka'
import { stackEnv, uniqueName } from './stack.ts'

export interface ReadRecord {
  key: string
  value: Buffer
  partition: number
  offset: bigint
  headers: Map<string, string>
}

/**
 * Reads `topic` from the beginning until at least `expected` records arrived and then
 * `settleMs` passed with nothing new (so surplus duplicates are seen too), or `timeoutMs`.
 */
export async function readRecords (topic: string, expected: number, options: { timeoutMs?: number, settleMs?: number, bootstrap?: string } = {}): Promise<ReadRecord[]> {
  const consumer = new Consumer({ clientId: 'test-reader', groupId: uniqueName('reader'), bootstrapBrokers: (options.bootstrap ?? stackEnv().kafkaBootstrap).split(','), maxWaitTime: 200, timeout: 10_000 })
  const out: ReadRecord[] = []
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false })
  const deadline = Date.now() + (options.timeoutMs ?? 30_000)
  const settle = options.settleMs ?? 1000
  let lastNew = Date.now()
  await new Promise<void>(resolve => {
    const timer = setInterval(() => {
      if (Date.now() > deadline || (out.length >= expected && Date.now() - lastNew >= settle)) {
        clearInterval(timer)
        resolve()
      }
    }, 100)
    stream.on('data', m => {
      const headers = new Map<string, string>()
      for (const [k, v] of m.headers) headers.set(k.toString(), v.toString())
      out.push({ key: m.key?.toString() ?? '', value: m.value, partition: m.partition, offset: m.offset, headers })
      lastNew = Date.now()
    })
  })
  await stream.close()
  await consumer.close(true)
  return out
}

/** `n` controller MACs unique to this run (6 random hex digits, then an index). */
export function testMacs (n: number): string[] {
  const base = randomUUID().replaceAll('-', '').slice(0, 6)
  return Array.from({ length: n }, (_, i) => `${base}${i.toString(16).padStart(6, '0')}`)
}

/** Subscription filters covering exactly these controllers' device topics. */
export function filtersFor (macs: string[], kinds = ['tele', 'stat']): string[] {
  return macs.flatMap(mac => kinds.map(k => `${k}/f2-${mac}/#`))
}
