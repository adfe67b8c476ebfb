import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { jitteredDelay } from '../../adapters/backoff.ts'
import { buildRecord, createProducer, kafkaTopicsReady, produce, type KafkaProducer } from '../../adapters/kafka.ts'
import { BatchConsumer, commitOffsets, partitionKey, stageConsumerOptions, type RawMessage, type TopicPartitionOffset } from '../../adapters/kafka-consumer.ts'
import type { Service } from '../../adapters/lifecycle.ts'
import type { Logger } from '../../adapters/logger.ts'
import type { FleetConfig } from './config.ts'
import type { FleetMetrics } from './metrics.ts'
import { decodeActivities, type Activity } from '../../core/activity.ts'
import { readDeadLetter, type DeadLetterRow } from './records.ts'
import { FleetState, type DeviceStateRecord, type TransitionEvent } from './state.ts'
import { encodeState } from './store.ts'

/** What the stage needs from the time-series database (FleetStore satisfies it). */
export interface StateStore {
  load: () => Promise<DeviceStateRecord[]>
  /** `states`: each controller's state as JSON (encodeState), written as is. */
  write: (states: readonly string[], events: readonly TransitionEvent[], deadLetters: readonly DeadLetterRow[]) => Promise<void>
}

/** What the stage needs from the registry: controllers and their expected intervals (null = default). */
export type IntervalSource = () => Promise<Map<string, number | null>>

/** Whether the processor has read everything on `raw_iot_data` (UpstreamWatch satisfies it). */
export interface Upstream {
  readonly behind: boolean
}

export interface FleetDeps {
  config: FleetConfig
  logger: Logger
  metrics: FleetMetrics
  store: StateStore
  intervals: IntervalSource
  /** Absent: the wall clock always judges silence. */
  upstream?: Upstream
  now?: () => number
}

/** Records per produce request to the state topic (≈ 1 KiB each, under the broker's 1 MiB). */
const STATE_CHUNK = 500
/** Dead letters held before a flush is forced. */
const DEAD_LETTER_FLUSH = 5000
const COUNT_REFRESH_MS = 60_000

/**
 * The fleet stage: `device_activity` (the activity of every raw message, written by the
 * processor in the transaction of its measurements) + `iot_dead_letter` → the state of every controller
 * (FleetState), written to `device_state` (table and compacted topic), `device_state_events`
 * and `dead_letters`.
 *
 * Silence is judged by the wall clock, except while the processor is behind on raw_iot_data
 * (`upstream.behind`): then by the newest receipt time read, so that a stalled or overloaded
 * processor does not make controllers that are sending look offline.
 *
 * Flushes: an online/offline change is written at once (within one loop turn, ≤ ~200 ms);
 * every other change waits for the regular flush every FLEET_FLUSH_INTERVAL_MS, so a controller
 * reporting many times a second costs one row and one record per interval. A flush is one
 * database transaction, then the changed records on the state topic (acks=all); the input
 * offsets are committed only after a regular flush, which holds everything read before it.
 * Database or Kafka unavailable: the flush is retried with backoff and nothing more is read
 * meanwhile (the consumer's buffer bounds memory).
 *
 * Restart and rebalance: the state is read back from the `device_state` table, and the
 * consumer resumes from the committed offsets; a rejoin of the group (a new generation)
 * drops what was read since the last commit and reads it again on top of the stored state.
 * One instance per consumer group: the offline timer covers every controller it knows.
 */
export class FleetStage implements Service {
  readonly #deps: FleetDeps
  readonly #consumer: BatchConsumer
  readonly #state: FleetState
  #producer: KafkaProducer | undefined
  #loop: Promise<void> | undefined
  #stopping = false
  #dbUp = true
  #restored = false
  #producerReady = false
  #deadLetters: DeadLetterRow[] = []
  #pending = new Map<string, TopicPartitionOffset>()
  #generation = -1
  #lastFullFlush = 0
  /** The wait between regular flushes: the flush interval, stretched for a large fleet. */
  #fullFlushEveryMs: number
  #lastCheck = 0
  #lastCountRefresh = 0
  #registryDue = 0
  #registryRunning: Promise<void> | undefined
  /** The newest receipt time read (ms): the stream's clock. */
  #streamMs = Number.NEGATIVE_INFINITY

  constructor (deps: FleetDeps) {
    this.#deps = deps
    const c = deps.config
    this.#fullFlushEveryMs = c.flushIntervalMs
    this.#state = new FleetState({ defaultIntervalS: c.defaultIntervalS, offlineAfterIntervals: c.offlineAfterIntervals, maxValuesPerDevice: c.maxValuesPerDevice })
    this.#consumer = new BatchConsumer({ ...stageConsumerOptions(c, [c.activityTopic, c.deadLetterTopic], deps.logger), minFetchBytes: c.fetchMinBytes })
    deps.metrics.dbUp.set(1)
    this.#collectMetricsOnScrape()
  }

  /** The state in memory (for tests and the HTTP endpoint). */
  get state (): FleetState { return this.#state }

  readiness (): { ready: boolean, checks: Record<string, boolean> } {
    const checks = { kafka_consumer: this.#consumer.connected, kafka_producer: this.#producerReady, database: this.#dbUp, state_restored: this.#restored }
    return { ready: Object.values(checks).every(Boolean), checks }
  }

  async start (): Promise<void> {
    const c = this.#deps.config
    this.#producer = createProducer({ clientId: `${c.instanceId}-producer`, bootstrapBrokers: c.brokers, retries: 5 })
    void this.#probeProducer(this.#producer)
    await this.#consumer.start()
    this.#loop = this.#run()
  }

  async stop (deadlineMs: number): Promise<void> {
    this.#stopping = true
    await Promise.race([this.#loop, sleep(Math.max(0, deadlineMs - 1000), undefined, { ref: false })])
    await this.#consumer.close()
    await this.#producer?.close().catch(() => {})
  }

  /** Asks for the registry to be read again soon (NOTIFY registry_changed). */
  registryChanged (): void {
    this.#registryDue = 0
  }

  async #run (): Promise<void> {
    const { logger } = this.#deps
    await this.#restore()
    let failures = 0
    while (!this.#stopping) {
      const now = this.#now()
      if (now >= this.#registryDue) this.#refreshRegistry(now)
      let batch: RawMessage[]
      try {
        batch = await this.#consumer.nextBatch(Math.min(200, this.#deps.config.checkIntervalMs))
        failures = 0
      } catch (err) {
        logger.warn({ err }, 'consumer failed; rejoining from committed offsets')
        await sleep(jitteredDelay(failures++, 500, this.#deps.config.retryMaxMs))
        await this.#consumer.reset().catch((e: unknown) => logger.warn({ err: e }, 'kafka not reachable yet'))
        await this.#restore()
        continue
      }
      if (batch.length > 0) {
        const generation = this.#consumer.batchGeneration
        if (this.#generation !== -1 && generation !== this.#generation) {
          // The group rejoined: the consumer reads again from the committed offsets, so what
          // was applied since then is dropped and the stored state taken up again.
          logger.info({ generation }, 'group rejoined; state read back from the table')
          await this.#restore()
        }
        this.#generation = generation
        this.#apply(batch)
      }
      await this.#maintain()
    }
    if (this.#restored) await this.#flush(false, true)
  }

  #apply (batch: RawMessage[]): void {
    const { config: c, metrics } = this.#deps
    const now = this.#now()
    const clock = this.#livenessClock(now)
    const counts = new Map<string, number>()
    const unattributed = new Map<string, number>()
    for (const m of batch) {
      counts.set(m.topic, (counts.get(m.topic) ?? 0) + 1)
      let ok = true
      if (m.topic === c.activityTopic) {
        const r = decodeActivities(m.value)
        if (r === null) ok = false
        else {
          if (r.invalid > 0) unattributed.set(m.topic, (unattributed.get(m.topic) ?? 0) + r.invalid)
          for (const a of r.activities) this.#applyActivity(a, now, clock)
        }
      } else if (m.topic === c.deadLetterTopic) {
        const row = readDeadLetter(m.value, m.partition, m.offset)
        if (row === null) ok = false
        else {
          this.#deadLetters.push(row)
          if (row.device_id !== null) this.#state.deadLetter(row.device_id, now)
        }
      }
      if (!ok) unattributed.set(m.topic, (unattributed.get(m.topic) ?? 0) + 1)
    }
    for (const [topic, n] of counts) metrics.consumed.inc({ topic }, n)
    for (const [topic, n] of unattributed) metrics.unattributed.inc({ topic }, n)
    for (const o of commitOffsets(batch)) this.#pending.set(partitionKey(o.topic, o.partition), o)
  }

  #applyActivity (a: Activity, now: number, clock: number): void {
    this.#state.readings(a.device_id, a.values, a.rows, now, a.keys)
    const receivedMs = a.receivedMs
    if (receivedMs > this.#streamMs) this.#streamMs = receivedMs
    if (a.retained) {
      // A copy from the broker's retained store (after a connector resubscribed): says
      // nothing about the controller now.
    } else if (a.presence === 'offline') this.#state.will(a.device_id, receivedMs, now)
    else this.#state.seen(a.device_id, receivedMs, a.mode, clock)
  }

  /**
   * The time silence is measured against: now, or while the processor is behind on its input,
   * the newest receipt time read (the stream is as far as the fleet can know).
   */
  #livenessClock (now: number): number {
    const behind = this.#deps.upstream?.behind === true && Number.isFinite(this.#streamMs)
    this.#deps.metrics.upstreamBehind.set(behind ? 1 : 0)
    return behind ? Math.min(now, this.#streamMs) : now
  }

  /** Offline timer, counts moving out of the hour, and the flushes that are due. */
  async #maintain (): Promise<void> {
    const c = this.#deps.config
    const now = this.#now()
    if (now - this.#lastCheck >= c.checkIntervalMs) {
      this.#lastCheck = now
      this.#state.tick(this.#livenessClock(now))
    }
    if (now - this.#lastCountRefresh >= COUNT_REFRESH_MS) {
      this.#lastCountRefresh = now
      this.#state.touchCounted(now)
    }
    if (now - this.#lastFullFlush >= this.#fullFlushEveryMs) await this.#flush(false)
    else if (this.#state.urgent > 0 || this.#deadLetters.length >= DEAD_LETTER_FLUSH) await this.#flush(true)
  }

  /**
   * Writes the changed controllers (all, or only those whose online state changed), their
   * transitions and the dead letters read; after a full flush, commits the input offsets.
   * Retries until it succeeds or the stage stops (then everything stays queued, uncommitted).
   */
  async #flush (urgentOnly: boolean, final = false): Promise<void> {
    const { metrics, logger } = this.#deps
    const now = this.#now()
    if (!urgentOnly) this.#lastFullFlush = now
    const offsets = urgentOnly ? [] : [...this.#pending.values()]
    if (!urgentOnly) this.#pending = new Map()
    const generation = this.#generation
    const states = this.#state.takeDirty(now, urgentOnly)
    if (!urgentOnly) this.#fullFlushEveryMs = regularFlushEveryMs(this.#deps.config, states.length)
    const events = this.#state.takeEvents()
    const deadLetters = this.#deadLetters
    this.#deadLetters = []
    if (states.length === 0 && events.length === 0 && deadLetters.length === 0 && offsets.length === 0) return
    const t0 = performance.now()
    const written = await this.#writeWithRetry(states, events, deadLetters, final)
    if (!written) {
      this.#state.requeue(states, events)
      this.#deadLetters = [...deadLetters, ...this.#deadLetters]
      return
    }
    metrics.flushLatency.observe((performance.now() - t0) / 1000)
    metrics.flushSize.observe(states.length)
    metrics.stateRecords.inc(states.length)
    metrics.deadLettersStored.inc(deadLetters.length)
    metrics.lastFlush.set(Date.now() / 1000)
    for (const e of events) metrics.transitions.inc({ state: e.online ? 'online' : 'offline', reason: e.reason })
    if (offsets.length > 0 && generation !== -1) {
      try {
        const committed = await this.#consumer.commit(offsets, generation)
        if (!committed) logger.info({ generation }, 'group rebalanced since these records were read; they are read again')
      } catch (err) {
        logger.warn({ err }, 'offset commit failed; the records since the last commit are read again after a restart')
      }
    }
  }

  async #writeWithRetry (states: DeviceStateRecord[], events: TransitionEvent[], deadLetters: DeadLetterRow[], final: boolean): Promise<boolean> {
    const { metrics, logger, config } = this.#deps
    // Serialised once: the table and the topic get the same text.
    const encoded = states.map(encodeState)
    for (let attempt = 0; ; attempt++) {
      let target = 'database'
      try {
        await this.#deps.store.write(encoded, events, deadLetters)
        if (!this.#dbUp) logger.info({ attempts: attempt + 1 }, 'database reachable again')
        this.#dbUp = true
        metrics.dbUp.set(1)
        target = 'kafka'
        await this.#produceStates(states, encoded)
        return true
      } catch (err) {
        metrics.retries.inc({ target })
        if (target === 'database') {
          this.#dbUp = false
          metrics.dbUp.set(0)
        }
        if (attempt % 10 === 0) logger.warn({ err, target, states: states.length, attempt }, 'flush failed; retrying')
        // On the way out, one more attempt: what stays unwritten is read again after a restart.
        if (this.#stopping && (final || attempt > 0)) return false
        await sleep(jitteredDelay(attempt, 200, config.retryMaxMs))
        if (this.#stopping && !final) return false
      }
    }
  }

  async #produceStates (states: readonly DeviceStateRecord[], encoded: readonly string[]): Promise<void> {
    const topic = this.#deps.config.stateTopic
    const producer = this.#producer ?? (this.#producer = createProducer({ clientId: `${this.#deps.config.instanceId}-producer`, bootstrapBrokers: this.#deps.config.brokers, retries: 5 }))
    for (let i = 0; i < states.length; i += STATE_CHUNK) {
      const chunk = states.slice(i, i + STATE_CHUNK).map((s, j) => buildRecord(topic, s.device_id, Buffer.from(encoded[i + j] as string)))
      await produce(producer, chunk)
    }
  }

  /** Reads the stored state back (retrying while the database is unavailable). */
  async #restore (): Promise<void> {
    const { logger, metrics } = this.#deps
    for (let attempt = 0; !this.#stopping; attempt++) {
      try {
        const records = await this.#deps.store.load()
        const now = this.#now()
        this.#state.restore(records, now)
        // The stream's clock resumes from the newest receipt time the state was restored with.
        for (const d of this.#state.lastSeen()) {
          if (d.lastSeenMs !== null && d.lastSeenMs > this.#streamMs) this.#streamMs = d.lastSeenMs
        }
        this.#pending = new Map()
        this.#deadLetters = []
        this.#generation = -1
        this.#restored = true
        this.#dbUp = true
        metrics.dbUp.set(1)
        // Who went silent while the stage was away is found by the next check.
        this.#lastCheck = 0
        this.#registryDue = 0
        logger.info({ controllers: records.length }, 'fleet state restored')
        return
      } catch (err) {
        this.#dbUp = false
        metrics.dbUp.set(0)
        if (attempt % 10 === 0) logger.warn({ err, attempt }, 'cannot read the stored state yet; retrying')
        await sleep(jitteredDelay(attempt, 500, this.#deps.config.retryMaxMs))
      }
    }
  }

  /** Reads the registry in the background; the loop goes on meanwhile. */
  #refreshRegistry (now: number): void {
    if (this.#registryRunning !== undefined) return
    this.#registryDue = now + this.#deps.config.registryRefreshMs
    this.#registryRunning = (async () => {
      try {
        const intervals = await this.#deps.intervals()
        this.#state.setRegistry(intervals, this.#now())
        this.#deps.metrics.registryUp.set(1)
      } catch (err) {
        this.#deps.metrics.registryUp.set(0)
        this.#deps.logger.warn({ err }, 'registry not readable; intervals kept, read again in 5 s')
        this.#registryDue = Math.min(this.#registryDue, this.#now() + 5000)
      } finally {
        this.#registryRunning = undefined
      }
    })()
  }

  /**
   * The per-controller gauges are set when Prometheus scrapes, not per message: 10 000
   * controllers cost one pass per scrape.
   */
  #collectMetricsOnScrape (): void {
    const { metrics, config } = this.#deps
    const state = this.#state
    const collect = (): void => {
      metrics.deviceOffline.reset()
      metrics.deviceLastSeen.reset()
      let online = 0
      let offline = 0
      for (const d of state.lastSeen()) {
        if (d.online) online++
        else {
          offline++
          metrics.deviceOffline.set({ device_id: d.mac, reason: d.reason ?? 'silent' }, 1)
        }
        if (d.lastSeenMs !== null && (config.deviceMetrics === 'all' || !d.online)) metrics.deviceLastSeen.set({ device_id: d.mac }, d.lastSeenMs / 1000)
      }
      metrics.devices.set({ state: 'online' }, online)
      metrics.devices.set({ state: 'offline' }, offline)
    }
    // prom-client calls `collect` of each metric; one pass serves all three.
    let last = 0
    const once = function (this: unknown): void {
      const now = Date.now()
      if (now - last < 100) return
      last = now
      collect()
    }
    for (const m of [metrics.devices, metrics.deviceOffline, metrics.deviceLastSeen]) {
      (m as unknown as { collect?: () => void }).collect = once
    }
  }

  async #probeProducer (producer: KafkaProducer): Promise<void> {
    const topic = this.#deps.config.stateTopic
    for (let attempt = 0; !this.#stopping; attempt++) {
      if (await kafkaTopicsReady(producer, [topic])) {
        this.#producerReady = true
        return
      }
      await sleep(jitteredDelay(attempt, 500, 10_000), undefined, { ref: false })
    }
  }

  #now (): number {
    return (this.#deps.now ?? Date.now)()
  }
}

/**
 * The wait before the next regular flush after one that wrote `written` controllers: the flush
 * interval, or longer when that many controllers would be written faster than
 * `stateWritesPerS`. Each controller's row costs the database a JSON parse and an upsert of
 * about 1.5 KB whether it changed a little or a lot, so for a large fleet the rate of rows,
 * not of messages, is what the state costs; online/offline changes never wait for this.
 */
export function regularFlushEveryMs (c: Pick<FleetConfig, 'flushIntervalMs' | 'stateWritesPerS'>, written: number): number {
  return Math.max(c.flushIntervalMs, Math.ceil(written / c.stateWritesPerS * 1000))
}
