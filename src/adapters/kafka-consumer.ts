import { Consumer, type Message, type MessagesStream } from '@platformatic/kafka'
import type { ConsumerSettings } from './connections/kafka.ts'
import type { Logger } from './logger.ts'
import { commitOffsets, OffsetTracker, partitionKey, type TopicPartitionOffset } from './offset-tracker.ts'

export { commitOffsets, OffsetTracker, partitionKey, type TopicPartitionOffset }

export type RawMessage = Message<Buffer, Buffer, Buffer, Buffer>

export interface BatchConsumerOptions {
  bootstrapBrokers: string[]
  groupId: string
  clientId: string
  topics: string[]
  /** Most records handed out by one `nextBatch`. */
  maxBatch: number
  /** How long `nextBatch` waits for a full batch once it holds at least one record. */
  maxWaitMs: number
  /** Records buffered but not yet handed out; reading from Kafka pauses beyond it. */
  maxBuffered: number
  sessionTimeoutMs?: number
  heartbeatIntervalMs?: number
  /** `read_committed` hides records of aborted and open transactions. */
  readCommitted?: boolean
  /**
   * Most bytes one fetch response may carry (all partitions together). Records are views into
   * their response buffer, so this bounds the memory one fetch pins; default 1 MiB.
   */
  maxFetchBytes?: number
  /**
   * Least bytes a fetch waits for (up to `maxWaitMs`, at most 500 ms) before the broker
   * answers; default 1 (answer as soon as anything is there). A consumer that needs no low
   * latency sets more: fewer, fuller fetches cost it and the broker less per record.
   */
  minFetchBytes?: number
  logger: Logger
}

const DEFAULT_MAX_FETCH_BYTES = 1_048_576

/**
 * The options of a stage's consumer of `topics` from its consumer section: client id
 * `<instance>-consumer`, and `read_committed` (the processor's outputs are transactional).
 */
export function stageConsumerOptions (settings: ConsumerSettings, topics: string[], logger: Logger): BatchConsumerOptions {
  return {
    bootstrapBrokers: settings.brokers,
    groupId: settings.groupId,
    clientId: `${settings.instanceId}-consumer`,
    topics,
    maxBatch: settings.batchSize,
    maxWaitMs: settings.batchWaitMs,
    maxBuffered: settings.maxBuffered,
    sessionTimeoutMs: settings.sessionTimeoutMs,
    readCommitted: true,
    logger
  }
}

/** Group membership a transactional offset commit must carry. */
export interface GroupMetadata {
  groupId: string
  generationId: number
  memberId: string
  coordinatorId: number
}

const READ_UNCOMMITTED = 0
const READ_COMMITTED = 1

/**
 * A group consumer that hands out records in batches and commits only explicit offsets.
 *
 * Contract:
 * - starts from the group's committed offsets, or from the earliest record when it has none;
 * - never commits on its own (`autocommit: false`): the caller commits with `commit(offsets)`
 *   once everything derived from those records is safe downstream;
 * - buffers at most `maxBuffered` records; the Kafka stream is paused beyond that, so a slow
 *   downstream slows reading instead of growing memory;
 * - every (re)join of the group starts a new epoch: the Kafka stream of the previous epoch is
 *   closed and whatever it still emits (records of a fetch answered after the join, records
 *   waiting in its internal buffer) is ignored, everything buffered is dropped, and a new
 *   stream reads every assigned partition from its committed offset. An uncommitted batch is
 *   thus read again, in order, and nothing between the committed offset and the records
 *   handed out later is skipped; records already handed out in one epoch are never handed out
 *   twice in it;
 * - `commit(offsets, generation)` refuses (returns false) a batch handed out before the last
 *   join and never commits a partition this member no longer owns;
 * - `reset()` discards everything in memory and rebuilds the consumer from the committed
 *   offsets; callers use it after a failed batch, so nothing uncommitted is skipped.
 */
export class BatchConsumer {
  readonly #options: BatchConsumerOptions
  readonly #tracker = new OffsetTracker()
  #consumer: Consumer<Buffer, Buffer, Buffer, Buffer> | undefined
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined
  #buffer: RawMessage[] = []
  #waiter: (() => void) | undefined
  #wantCount = Number.POSITIVE_INFINITY
  #failure: Error | undefined
  #paused = false
  #closed = false
  #connected = false
  #rebalances = 0
  #batchGeneration = -1
  /** Bumped by every join; a stream only feeds the buffer while its epoch is current. */
  #epoch = 0
  /** Group generation seen by the last join: the generation of everything the current stream reads. */
  #joinGeneration = -1
  #replacing = false
  #retiring: Array<MessagesStream<Buffer, Buffer, Buffer, Buffer>> = []

  constructor (options: BatchConsumerOptions) {
    this.#options = options
  }

  get connected (): boolean {
    return this.#connected && this.#failure === undefined
  }

  get rebalances (): number {
    return this.#rebalances
  }

  /** The underlying client (for `transaction.addConsumer`). */
  get consumer (): Consumer<Buffer, Buffer, Buffer, Buffer> {
    if (this.#consumer === undefined) throw new Error('consumer not started')
    return this.#consumer
  }

  async start (): Promise<void> {
    this.#closed = false
    this.#failure = undefined
    const o = this.#options
    const consumer = new Consumer({
      clientId: o.clientId,
      bootstrapBrokers: o.bootstrapBrokers,
      groupId: o.groupId,
      autocommit: false,
      sessionTimeout: o.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: o.heartbeatIntervalMs ?? 1_000,
      rebalanceTimeout: Math.max(o.sessionTimeoutMs ?? 10_000, 15_000),
      isolationLevel: o.readCommitted === false ? READ_UNCOMMITTED : READ_COMMITTED,
      maxWaitTime: Math.min(o.maxWaitMs, 500),
      minBytes: o.minFetchBytes ?? 1,
      maxBytes: o.maxFetchBytes ?? DEFAULT_MAX_FETCH_BYTES,
      maxBytesPerPartition: o.maxFetchBytes ?? DEFAULT_MAX_FETCH_BYTES,
      retries: 5,
      retryDelay: 500
    })
    this.#consumer = consumer
    consumer.on('consumer:group:join', () => {
      if (consumer !== this.#consumer) return
      this.#rebalances++
      this.#onJoin()
    })
    consumer.on('consumer:heartbeat:error', () => { this.#connected = false })
    consumer.on('consumer:heartbeat:end', () => { this.#connected = true })
    // The first join happens inside `consume`, before the stream exists; the stream then reads
    // from the committed offsets of that join's assignment, so it belongs to the current epoch.
    const stream = await this.#openStream(consumer)
    if (this.#closed || consumer !== this.#consumer) {
      this.#retire(stream)
      return
    }
    this.#connected = true
    this.#attach(stream, this.#epoch)
  }

  #openStream (consumer: Consumer<Buffer, Buffer, Buffer, Buffer>): Promise<MessagesStream<Buffer, Buffer, Buffer, Buffer>> {
    return consumer.consume({
      topics: this.#options.topics,
      mode: 'committed',
      fallbackMode: 'earliest',
      autocommit: false,
      highWaterMark: Math.max(16, Math.min(this.#options.maxBuffered, 1024))
    })
  }

  /** Makes `stream` the current one: only while `epoch` is current do its records and errors count. */
  #attach (stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>, epoch: number): void {
    const o = this.#options
    this.#stream = stream
    this.#paused = false
    stream.on('data', (message: RawMessage) => {
      if (epoch !== this.#epoch) return
      this.#buffer.push(message)
      if (!this.#paused && this.#buffer.length >= o.maxBuffered) {
        this.#paused = true
        stream.pause()
      }
      if (this.#buffer.length >= this.#wantCount) this.#wake()
    })
    stream.on('error', (err: Error) => {
      if (epoch !== this.#epoch) return
      this.#failure = err
      this.#connected = false
      o.logger.warn({ err }, 'kafka consumer stream failed')
      this.#wake()
    })
  }

  /** Stops a stream of a past epoch for good; what it still emits or fails with is ignored. */
  #retire (stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>): void {
    stream.removeAllListeners('data')
    stream.on('error', () => {})
    stream.pause()
    stream.close().catch(() => {})
  }

  /**
   * Opens a stream for the current epoch, then retires the previous one. The new stream is
   * opened first so that the topics stay subscribed throughout (closing the last stream of a
   * topic unsubscribes it, and re-subscribing would trigger yet another rejoin).
   */
  async #replaceStream (): Promise<void> {
    if (this.#replacing) return
    this.#replacing = true
    const consumer = this.#consumer
    try {
      while (!this.#closed && consumer !== undefined && consumer === this.#consumer && this.#stream === undefined) {
        const epoch = this.#epoch
        const stream = await this.#openStream(consumer)
        if (this.#closed || consumer !== this.#consumer || epoch !== this.#epoch) {
          // Another join (or a reset) happened meanwhile: this stream may hold a stale position.
          this.#retire(stream)
          continue
        }
        this.#attach(stream, epoch)
      }
    } catch (err) {
      if (!this.#closed && consumer === this.#consumer) {
        this.#failure = err as Error
        this.#connected = false
        this.#options.logger.warn({ err }, 'kafka consumer stream could not be reopened after a rebalance')
        this.#wake()
      }
    } finally {
      this.#replacing = false
      for (const old of this.#retiring.splice(0)) this.#retire(old)
    }
  }

  /**
   * Resolves with the next batch: up to `maxBatch` new records, waiting at most `maxWaitMs`
   * after the first one arrives (or `idleMs` for the first one; an empty batch then).
   * Throws if the stream failed; the caller then `reset()`s.
   */
  async nextBatch (idleMs = 1000): Promise<RawMessage[]> {
    if (this.#failure !== undefined) throw this.#failure
    if (this.#consumer === undefined || this.#closed) throw new Error('consumer is not running')
    const o = this.#options
    if (this.#buffer.length === 0) await this.#wait(idleMs, 1)
    if (this.#buffer.length > 0 && this.#buffer.length < o.maxBatch) await this.#wait(o.maxWaitMs, o.maxBatch)
    if (this.#failure !== undefined) throw this.#failure
    const taken = this.#buffer.splice(0, o.maxBatch)
    if (this.#paused && this.#buffer.length < o.maxBuffered / 2) {
      this.#paused = false
      this.#stream?.resume()
    }
    const owned = this.#ownedPartitions()
    // The generation of the join that opened the stream these records came from (the client's
    // own generationId moves as soon as a JoinGroup is answered, before the old stream stops).
    this.#batchGeneration = this.#joinGeneration
    return taken.filter(m => (owned === undefined || owned.has(partitionKey(m.topic, m.partition))) && this.#tracker.accept(m))
  }

  /**
   * Commits explicit next offsets (last processed + 1) for the group, outside any transaction.
   * With `generation` (the `batchGeneration` of the batch they belong to), nothing is committed
   * when the group rebalanced since: the batch is read again from the committed offsets, and a
   * stale commit must not move another epoch's position. Partitions this member no longer owns
   * are never committed. Resolves true when the offsets were committed.
   */
  async commit (offsets: TopicPartitionOffset[], generation?: number): Promise<boolean> {
    if (generation !== undefined && this.rebalancedSince(generation)) return false
    const owned = this.#ownedPartitions()
    const mine = owned === undefined ? offsets : offsets.filter(o => owned.has(partitionKey(o.topic, o.partition)))
    if (mine.length === 0) return offsets.length === 0
    await this.consumer.commit({ offsets: mine.map(o => ({ ...o, leaderEpoch: -1 })) })
    return mine.length === offsets.length
  }

  /**
   * Membership to stamp on a transactional offset commit: the generation in which the last
   * batch was handed out. If the group rebalanced since, the coordinator refuses the commit
   * (the transaction aborts) instead of committing offsets of a partition another member owns.
   */
  groupMetadata (generation = this.#batchGeneration): GroupMetadata {
    const c = this.consumer
    return { groupId: c.groupId, generationId: generation, memberId: c.memberId ?? '', coordinatorId: c.coordinatorId ?? -1 }
  }

  /** The group generation in which the last batch was handed out (snapshot it to pipeline batches). */
  get batchGeneration (): number {
    return this.#batchGeneration
  }

  /** True when the group rebalanced after the last batch was handed out (it will be re-read). */
  get rebalancedSinceBatch (): boolean {
    return this.rebalancedSince(this.#batchGeneration)
  }

  /** True when the group rebalanced after a batch of `generation` was handed out. */
  rebalancedSince (generation: number): boolean {
    return this.#consumer !== undefined && (this.#joinGeneration !== generation || this.#consumer.generationId !== generation)
  }

  /** Drops everything in memory and rejoins from the committed offsets. */
  async reset (): Promise<void> {
    await this.close()
    this.#tracker.clear()
    this.#buffer = []
    await this.start()
  }

  /**
   * Where the stream will fetch next for a partition (past transaction markers, which are
   * never handed out); undefined before the first fetch.
   */
  fetchPosition (topic: string, partition: number): bigint | undefined {
    return this.#stream?.offsetsToFetch.get(partitionKey(topic, partition))
  }

  /** Records (per partition) between the group's committed offsets and the end of the topics. */
  async lag (): Promise<Map<string, bigint>> {
    const lag = await this.consumer.getLag({ topics: this.#options.topics })
    const out = new Map<string, bigint>()
    for (const [topic, partitions] of lag) {
      partitions.forEach((value, partition) => { if (value >= 0n) out.set(partitionKey(topic, partition), value) })
    }
    return out
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#connected = false
    this.#wake()
    this.#epoch++
    const stream = this.#stream
    const consumer = this.#consumer
    this.#stream = undefined
    for (const old of this.#retiring.splice(0)) this.#retire(old)
    if (stream !== undefined) await stream.close().catch(() => {})
    if (consumer !== undefined) await consumer.close(true).catch(() => {})
  }

  #ownedPartitions (): Set<string> | undefined {
    const assignments = this.#consumer?.assignments
    if (assignments == null) return undefined
    const owned = new Set<string>()
    for (const a of assignments) for (const p of a.partitions) owned.add(partitionKey(a.topic, p))
    return owned
  }

  /**
   * A join starts a new epoch. The old stream cannot be reused: a fetch it sent before the
   * join and answered after it, or records still waiting in its internal buffer, would move
   * its position (and the tracker) past the records dropped here, and those would never be
   * handed out while later commits skip over them. So it is retired, everything of the old
   * epoch is dropped, and a new stream reads from the committed offsets of the new assignment.
   */
  #onJoin (): void {
    this.#epoch++
    this.#joinGeneration = this.#consumer?.generationId ?? -1
    this.#buffer = []
    this.#tracker.clear()
    this.#paused = false
    const old = this.#stream
    // Still starting: the stream `start` is about to get was created after this join.
    if (old === undefined && !this.#replacing) return
    this.#stream = undefined
    if (old !== undefined) {
      old.removeAllListeners('data')
      old.pause()
      // Closed only once its successor exists, so that the topics stay subscribed.
      this.#retiring.push(old)
    }
    void this.#replaceStream()
  }

  #wait (ms: number, count: number): Promise<void> {
    return new Promise(resolve => {
      const timer = setTimeout(() => this.#wake(), ms)
      this.#wantCount = count
      this.#waiter = () => {
        clearTimeout(timer)
        this.#waiter = undefined
        this.#wantCount = Number.POSITIVE_INFINITY
        resolve()
      }
    })
  }

  #wake (): void {
    this.#waiter?.()
  }
}
