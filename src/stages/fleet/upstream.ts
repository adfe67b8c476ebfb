import { Admin } from '@platformatic/kafka'
import { readLag, type LagReading } from '../../adapters/kafka-lag.ts'
import type { Logger } from '../../adapters/logger.ts'
import { ErrorCodes, F2Error } from '../../core/errors.ts'

/** A reading older than this many poll intervals says nothing about now. */
export const STALE_AFTER_INTERVALS = 3
/** Least time between two logged poll failures: Kafka down must not flood the log. */
export const FAILURE_LOG_INTERVAL_MS = 60_000
const DEFAULT_TIMEOUT_MS = 3_000

/** `reading` (taken at `readAtMs`) still describes the group at `nowMs`. */
export function isFresh (readAtMs: number, nowMs: number, intervalMs: number): boolean {
  return nowMs - readAtMs < STALE_AFTER_INTERVALS * intervalMs
}

/**
 * The upstream group is behind: its last reading is fresh, it has committed on the topic at
 * all, and records remain that it has not consumed. A group that never committed (its stage
 * has not started yet, a fresh system) is not behind, so silence is judged as without a watch.
 */
export function isBehind (reading: LagReading | undefined, readAtMs: number, nowMs: number, intervalMs: number): boolean {
  return reading !== undefined && isFresh(readAtMs, nowMs, intervalMs) && reading.committedPartitions > 0 && reading.lag > 0
}

export interface UpstreamWatchOptions {
  brokers: string[]
  /** The consumer group whose progress is watched (the processor's). */
  group: string
  /** The topic it consumes (`raw_iot_data`). */
  topic: string
  intervalMs: number
  /** Longest a poll may take, all requests together (default: the interval, at most 3 s). */
  timeoutMs?: number
  logger: Logger
  now?: () => number
}

/**
 * Whether an upstream consumer group is behind on its topic, polled in the background.
 * `start` returns at once; each poll (the first at once, then every `intervalMs`) only
 * updates the fields the getters read, so a reader never waits for Kafka. Polls never
 * overlap, give up after `timeoutMs`, and a failed one replaces the Admin client. Kafka
 * unreachable means no fresh reading, hence `behind` false after `3 × intervalMs` at most.
 */
export class UpstreamWatch {
  readonly #o: Required<Omit<UpstreamWatchOptions, 'now'>>
  readonly #now: () => number
  #admin: Admin | undefined
  #timer: NodeJS.Timeout | undefined
  #polling: Promise<void> | undefined
  #running = false
  #reading: LagReading | undefined
  #readAt = 0
  #readable = false
  #loggedAt = -Infinity
  /** A failure was logged and no success since: the next success is logged too. */
  #failureLogged = false

  constructor (options: UpstreamWatchOptions) {
    const timeoutMs = options.timeoutMs ?? Math.min(options.intervalMs, DEFAULT_TIMEOUT_MS)
    if (!(options.intervalMs > 0) || !(timeoutMs > 0) || options.brokers.length === 0) {
      throw new F2Error(ErrorCodes.CONFIG_INVALID, 'upstream watch: intervalMs and timeoutMs must be positive and brokers not empty', { details: { intervalMs: options.intervalMs, timeoutMs } })
    }
    this.#o = { ...options, timeoutMs }
    this.#now = options.now ?? Date.now
  }

  /** True while a fresh reading shows the group has committed on the topic and has records left. */
  get behind (): boolean {
    return isBehind(this.#reading, this.#readAt, this.#now(), this.#o.intervalMs)
  }

  /** The last fresh reading's lag (from the log start on partitions it never committed). */
  get lag (): number | undefined {
    return this.#reading !== undefined && isFresh(this.#readAt, this.#now(), this.#o.intervalMs) ? this.#reading.lag : undefined
  }

  /** The last poll succeeded. */
  get readable (): boolean {
    return this.#readable
  }

  start (): void {
    if (this.#running) return
    this.#running = true
    // A poll still under way from before a stop goes on to schedule the next one itself.
    if (this.#polling === undefined) this.#run()
  }

  /** Stops polling and closes the Admin client; a poll under way is cut short. */
  async stop (): Promise<void> {
    this.#running = false
    clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#drop()
    await this.#polling
  }

  #run (): void {
    const startedAt = this.#now()
    this.#polling = this.#poll().finally(() => {
      this.#polling = undefined
      if (!this.#running) return
      // Keep the cadence: a slow poll shortens the wait before the next, never stacks on it.
      const wait = Math.max(0, this.#o.intervalMs - (this.#now() - startedAt))
      this.#timer = setTimeout(() => this.#run(), wait)
      this.#timer.unref()
    })
  }

  async #poll (): Promise<void> {
    const { brokers, group, topic, timeoutMs } = this.#o
    this.#admin ??= new Admin({ clientId: 'f2-fleet-upstream', bootstrapBrokers: brokers, timeout: timeoutMs, connectTimeout: timeoutMs, requestTimeout: timeoutMs, retries: 0 })
    const admin = this.#admin
    const askedAt = this.#now()
    try {
      const reading = await withDeadline(this.#read(admin), timeoutMs)
      if (!this.#running) return
      // Dated when asked: the offsets are at least that old when the reading is used.
      this.#reading = reading
      this.#readAt = askedAt
      if (this.#failureLogged) {
        this.#failureLogged = false
        this.#o.logger.info({ group, topic, lag: reading.lag }, 'upstream lag readable again')
      }
      this.#readable = true
    } catch (err) {
      this.#readable = false
      await this.#drop()
      if (!this.#running) return
      const now = this.#now()
      if (now - this.#loggedAt >= FAILURE_LOG_INTERVAL_MS) {
        this.#loggedAt = now
        this.#failureLogged = true
        const error = new F2Error(ErrorCodes.KAFKA_UNAVAILABLE, `cannot read the lag of ${group} on ${topic}`, { cause: err, retryable: true })
        this.#o.logger.warn({ err: error, code: error.code, group, topic }, 'upstream lag unreadable; counted as not behind once the last reading is stale')
      }
    }
  }

  async #read (admin: Admin): Promise<LagReading> {
    const { group, topic } = this.#o
    // Asking for the metadata of a topic that does not exist is an error; a topic not yet
    // created has nothing to consume, which is a reading (lag 0), not a failure.
    if (!(await admin.listTopics({ includeInternals: false })).includes(topic)) {
      return { group, topic, lag: 0, committedPartitions: 0, partitions: 0 }
    }
    const metadata = await admin.metadata({ topics: [topic], forceUpdate: true })
    const partitions = metadata.topics.get(topic)?.partitionsCount ?? 0
    return await readLag(admin, { group, topic }, partitions)
  }

  async #drop (): Promise<void> {
    const old = this.#admin
    this.#admin = undefined
    await old?.close().catch(() => {})
  }
}

/** Rejects after `ms` unless `work` settled first; the caller then drops what `work` was using. */
async function withDeadline<T> (work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([work, deadline])
  } finally {
    clearTimeout(timer)
  }
}
