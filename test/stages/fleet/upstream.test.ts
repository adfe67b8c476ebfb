import { connect, createServer, type Server, type Socket } from 'node:net'
import type { Admin } from '@platformatic/kafka'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { buildRecord } from '../../../src/adapters/kafka.ts'
import { ErrorCodes } from '../../../src/core/errors.ts'
import { UpstreamWatch, type UpstreamWatchOptions } from '../../../src/stages/fleet/upstream.ts'
import { produceAll } from '../../../harness/e2e-support.ts'
import { createTempTopics, kafkaAdmin, stackEnv, uniqueName, uniqueTopicName, type TempTopics } from '../../../harness/stack.ts'
import { pollUntil } from '../../../harness/wait.ts'

/**
 * The upstream watch against the real Kafka: a consumer group's commits (set through the
 * Admin API, as a consumer would commit them) move `behind`; a group that never committed,
 * a topic that does not exist and a Kafka that does not answer all read as not behind.
 */
const INTERVAL_MS = 200
/** "Within a couple of intervals", with room for a shared, slow machine. */
const WITHIN_MS = 10 * INTERVAL_MS + 3000

function captureLogger (): { logger: UpstreamWatchOptions['logger'], lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } })
  return { logger, lines }
}

describe('UpstreamWatch (real Kafka)', () => {
  let topics: TempTopics
  let admin: Admin
  const topic = uniqueTopicName('f2_upstream')
  const watches: UpstreamWatch[] = []
  const watch = (options: Partial<UpstreamWatchOptions> & { group: string }): UpstreamWatch => {
    const w = new UpstreamWatch({ brokers: stackEnv().kafkaBootstrap.split(','), topic, intervalMs: INTERVAL_MS, logger: captureLogger().logger, ...options })
    watches.push(w)
    w.start()
    return w
  }
  const commit = async (group: string, offsets: Array<[partition: number, offset: bigint]>): Promise<void> => {
    await admin.alterConsumerGroupOffsets({ groupId: group, topics: [{ name: topic, partitionOffsets: offsets.map(([partition, offset]) => ({ partition, offset })) }] })
  }

  beforeAll(async () => {
    topics = await createTempTopics([topic], 2)
    admin = kafkaAdmin('f2-upstream-test')
    // 6 records on partition 0, 4 on partition 1.
    await produceAll([6, 4].flatMap((n, p) => Array.from({ length: n }, (_, i) => ({ ...buildRecord(topic, null, Buffer.from(`${p}-${i}`)), partition: p }))))
  })
  afterEach(async () => { await Promise.all(watches.splice(0).map(async w => await w.stop())) })
  afterAll(async () => {
    await admin?.close()
    await topics?.delete()
  })

  it('is behind while the group has committed short of the log end, and not once it reaches it', async () => {
    const group = uniqueName('f2_upstream_group')
    await commit(group, [[0, 2n], [1, 4n]])
    const w = watch({ group })
    expect(await pollUntil(() => w.behind, WITHIN_MS, 20)).toBe(true)
    expect(w.lag).toBe(4)
    expect(w.readable).toBe(true)

    await commit(group, [[0, 6n]])
    expect(await pollUntil(() => !w.behind, WITHIN_MS, 20)).toBe(true)
    expect(w.lag).toBe(0)
    expect(w.readable).toBe(true)

    // New input the group has not read yet makes it behind again.
    await produceAll([{ ...buildRecord(topic, null, Buffer.from('late')), partition: 1 }])
    expect(await pollUntil(() => w.behind, WITHIN_MS, 20)).toBe(true)
    expect(w.lag).toBe(1)
  })

  it('is not behind for a group that never committed on the topic, whatever the topic holds', async () => {
    const w = watch({ group: uniqueName('f2_upstream_never') })
    expect(await pollUntil(() => w.readable, WITHIN_MS, 20)).toBe(true)
    expect(w.lag).toBeGreaterThanOrEqual(10)
    // Several polls later it still is not.
    await new Promise(resolve => setTimeout(resolve, 3 * INTERVAL_MS))
    expect([w.readable, w.behind]).toEqual([true, false])
  })

  it('is not behind on a topic that does not exist, and reads it without error', async () => {
    const w = watch({ group: uniqueName('f2_upstream_absent'), topic: uniqueTopicName('f2_upstream_absent') })
    expect(await pollUntil(() => w.readable, WITHIN_MS, 20)).toBe(true)
    expect([w.behind, w.lag]).toEqual([false, 0])
  })

  it('drops a reading that is not renewed: behind turns false after three intervals', async () => {
    const group = uniqueName('f2_upstream_stale')
    await commit(group, [[0, 1n]])
    // The watch's clock stands still while it polls, so every reading is dated `clock`.
    let clock = Date.now()
    const w = watch({ group, now: () => clock })
    expect(await pollUntil(() => w.behind, WITHIN_MS, 20)).toBe(true)
    await w.stop()
    clock += 3 * INTERVAL_MS - 1
    expect(w.behind).toBe(true)
    clock += 1
    expect([w.behind, w.lag]).toEqual([false, undefined])
  })

  it('reports an unreachable Kafka as unreadable and not behind, logs it once a minute, and stops at once', async () => {
    const { logger, lines } = captureLogger()
    const w = watch({ group: uniqueName('f2_upstream_down'), brokers: ['127.0.0.1:1'], logger, timeoutMs: 500 })
    expect(await pollUntil(() => lines.length > 0, WITHIN_MS, 20)).toBe(true)
    // More failed polls, still one line.
    await new Promise(resolve => setTimeout(resolve, 5 * INTERVAL_MS))
    expect([w.readable, w.behind, w.lag]).toEqual([false, false, undefined])
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ level: 40, code: ErrorCodes.KAFKA_UNAVAILABLE })
    const started = performance.now()
    await w.stop()
    expect(performance.now() - started).toBeLessThan(2000)
  })

  it('gives up on a broker that never answers, one connection at a time, and reads again once Kafka answers', async () => {
    // Accepts connections and, until told to forward them to the stack's Kafka, never answers.
    const [kafkaHost, kafkaPort] = (stackEnv().kafkaBootstrap.split(',')[0] as string).split(':') as [string, string]
    let forward = false
    let open = 0
    let mostOpen = 0
    let accepted = 0
    const sockets = new Set<Socket>()
    const server: Server = createServer(socket => {
      accepted++
      mostOpen = Math.max(mostOpen, ++open)
      sockets.add(socket)
      socket.on('close', () => { open--; sockets.delete(socket) })
      socket.on('error', () => {})
      // Read and discard, so that the client's close (FIN) is seen.
      if (!forward) { socket.resume(); return }
      const upstream = connect(Number(kafkaPort), kafkaHost)
      upstream.on('error', () => socket.destroy())
      socket.on('close', () => upstream.destroy())
      socket.pipe(upstream).pipe(socket)
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    try {
      const port = (server.address() as { port: number }).port
      const group = uniqueName('f2_upstream_hang')
      await commit(group, [[1, 1n]])
      const { logger, lines } = captureLogger()
      const w = watch({ group, brokers: [`127.0.0.1:${port}`], logger, timeoutMs: 300 })
      // Every poll gives up within its timeout and closes its connection before the next one opens.
      expect(await pollUntil(() => accepted >= 3, WITHIN_MS, 20)).toBe(true)
      expect([w.readable, w.behind]).toEqual([false, false])
      expect(mostOpen).toBe(1)
      expect(lines.map(l => l.level)).toEqual([40])

      forward = true
      expect(await pollUntil(() => w.behind, WITHIN_MS, 20)).toBe(true)
      expect(w.readable).toBe(true)
      expect(lines.map(l => l.level)).toEqual([40, 30])
    } finally {
      for (const s of sockets) s.destroy()
      await new Promise(resolve => server.close(resolve))
    }
  })

  it('polls no more after stop', async () => {
    const group = uniqueName('f2_upstream_stop')
    const w = watch({ group })
    expect(await pollUntil(() => w.readable, WITHIN_MS, 20)).toBe(true)
    await w.stop()
    await commit(group, [[0, 1n]])
    await new Promise(resolve => setTimeout(resolve, 3 * INTERVAL_MS))
    // A poll after the commit would have read the group as behind.
    expect(w.behind).toBe(false)
  })
})
