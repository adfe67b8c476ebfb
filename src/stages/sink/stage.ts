import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { jitteredDelay } from '../../adapters/backoff.ts'
import { buildRecord, createProducer, findRefused, isRecordRejection, type KafkaProducer, type KafkaRecord } from '../../adapters/kafka.ts'
import { BatchConsumer, commitOffsets, stageConsumerOptions, type RawMessage } from '../../adapters/kafka-consumer.ts'
import type { Service } from '../../adapters/lifecycle.ts'
import type { Logger } from '../../adapters/logger.ts'
import { ErrorCodes, isF2Error, type ErrorCode } from '../../core/errors.ts'
import type { Measurement } from '../../core/measurement.ts'
import type { SinkConfig } from './config.ts'
import type { SinkMetrics } from './metrics.ts'
import { parseBatch, sinkDeadLetter, type EncodedDeadLetter, type ParsedBatch, type SinkRecord } from './records.ts'

/** What the sink needs from storage (TimeseriesWriter satisfies it). */
export interface RowWriter {
  writeBatch: (rows: Measurement[]) => Promise<{
    inserted: number
    duplicates: number
    rejected: Array<{ index: number, code: ErrorCode, message: string }>
    /** Rows whose key is stored with another value: not written, dead-lettered with both values. */
    conflicts: Array<{ index: number, stored: Record<string, unknown> }>
    /** `copy`: straight into the table; `staging`: through the staging table (the batch met stored rows). */
    path: 'copy' | 'staging'
  }>
}

export interface SinkDeps {
  config: SinkConfig
  logger: Logger
  metrics: SinkMetrics
  writer: RowWriter
  now?: () => number
}

/**
 * The TimescaleDB sink: `decoded_iot_data` → `iot_measurements`.
 *
 * A batch closes at `SINK_BATCH_SIZE` records or `SINK_BATCH_WAIT_MS` after its first record.
 * Each batch is written in one database transaction (the writer's COPY straight into the
 * table, or, when the batch meets stored rows, COPY → staging → INSERT … ON CONFLICT DO
 * NOTHING), so a record delivered twice is stored once. Offsets are committed only after the
 * transaction commits and the batch's dead letters are acknowledged by Kafka.
 *
 * Database unavailable: the same batch is retried with exponential backoff (capped), forever;
 * nothing further is read beyond the consumer buffer, nothing is committed, `f2_sink_db_up`
 * is 0. A batch is never dropped. Records that can never be written (schema-invalid, or
 * rejected row by row by the database) are dead-lettered and do not fail their batch.
 */
export class SinkStage implements Service {
  readonly #deps: SinkDeps
  readonly #consumer: BatchConsumer
  #producer: KafkaProducer | undefined
  #loop: Promise<void> | undefined
  #stopping = false
  #dbUp = true
  #commits: Promise<void> = Promise.resolve()
  #commitFailed = false
  /** When the batch in hand started failing (database or dead-letter produce); undefined otherwise. */
  #failingSince: number | undefined

  constructor (deps: SinkDeps) {
    this.#deps = deps
    this.#consumer = new BatchConsumer(stageConsumerOptions(deps.config, [deps.config.inputTopic], deps.logger))
    deps.metrics.dbUp.set(1)
    deps.metrics.blocked.seconds = () => this.#failingSince === undefined ? 0 : (performance.now() - this.#failingSince) / 1000
  }

  readiness (): { ready: boolean, checks: Record<string, boolean> } {
    const checks = { kafka_consumer: this.#consumer.connected, database: this.#dbUp }
    return { ready: Object.values(checks).every(Boolean), checks }
  }

  async start (): Promise<void> {
    const c = this.#deps.config
    this.#producer = createProducer({ clientId: `${c.instanceId}-producer`, bootstrapBrokers: c.brokers, retries: 5 })
    await this.#consumer.start()
    this.#loop = this.#run()
  }

  async stop (deadlineMs: number): Promise<void> {
    this.#stopping = true
    // Unreferenced: once the loop is done, the deadline timer must not keep the process alive.
    await Promise.race([this.#loop, sleep(Math.max(0, deadlineMs - 1000), undefined, { ref: false })])
    await this.#consumer.close()
    await this.#producer?.close().catch(() => {})
  }

  /**
   * Two batches overlap: while one is in the database, the next is read and validated; and a
   * batch's offset commit runs while the following batch is written. Writes happen one at a
   * time, in order, and commits are chained in the same order, so an offset is committed only
   * when every record before it is stored.
   */
  async #run (): Promise<void> {
    let failures = 0
    let writing: Promise<void> = Promise.resolve()
    while (!this.#stopping) {
      if (this.#commitFailed) {
        await writing
        await this.#commits
        this.#commitFailed = false
        // Rows are stored; re-reading them after the rejoin only finds duplicates.
        await this.#consumer.reset().catch((e: unknown) => this.#deps.logger.warn({ err: e }, 'kafka not reachable yet'))
        continue
      }
      let batch: RawMessage[]
      try {
        batch = await this.#consumer.nextBatch(500)
        failures = 0
      } catch (err) {
        await writing
        this.#deps.logger.warn({ err }, 'consumer failed; rejoining from committed offsets')
        await sleep(jitteredDelay(failures++, 500, this.#deps.config.retryMaxMs))
        await this.#consumer.reset().catch((e: unknown) => this.#deps.logger.warn({ err: e }, 'kafka not reachable yet'))
        continue
      }
      if (batch.length === 0) continue
      const generation = this.#consumer.batchGeneration
      this.#deps.metrics.consumed.inc(batch.length)
      const parsed = parseBatch(batch.map(toSinkRecord), (this.#deps.now ?? Date.now)(), this.#deps.config.maxRecordBytes)
      await writing
      writing = this.#store(batch, parsed, generation)
    }
    await writing
    await this.#commits
  }

  /**
   * Writes one batch, sends its dead letters, then queues its offset commit. The commit is
   * skipped when the group rebalanced after the batch was handed out: the consumer then reads
   * again from the committed offsets, and the rows already stored come again as duplicates.
   */
  async #store (batch: RawMessage[], parsed: ParsedBatch, generation: number): Promise<void> {
    const { metrics } = this.#deps
    const now = this.#deps.now ?? Date.now
    const deadLetters: EncodedDeadLetter[] = parsed.deadLetters

    if (parsed.rows.length > 0) {
      const result = await this.#writeWithRetry(parsed.rows)
      if (result === undefined) return // stopping: nothing committed, the batch is read again
      const committedAt = now()
      metrics.rowsWritten.inc(result.inserted)
      metrics.rowsDuplicate.inc(result.duplicates)
      metrics.batches.inc({ path: result.path })
      metrics.lastWrite.set(committedAt / 1000)
      const rejected = new Set<number>()
      for (const r of result.rejected) {
        rejected.add(r.index)
        const source = parsed.sources[r.index]
        const row = parsed.rows[r.index]
        if (source !== undefined) {
          deadLetters.push(sinkDeadLetter(source, { code: r.code, message: r.message }, committedAt, row?.topic ?? null, this.#deps.config.maxRecordBytes))
        }
      }
      for (const c of result.conflicts) {
        rejected.add(c.index)
        const source = parsed.sources[c.index]
        const row = parsed.rows[c.index]
        if (source === undefined || row === undefined) continue
        deadLetters.push(sinkDeadLetter(source, {
          code: ErrorCodes.CONFLICTING_DUPLICATE,
          message: `a row with this key is stored with another value (stored ${JSON.stringify(c.stored.value ?? c.stored.value_text)}, received ${JSON.stringify(row.value ?? row.value_text)})`.slice(0, 1000),
          details: { stored: c.stored, received: { value: row.value, value_text: row.value_text, unit: row.unit, received_at: row.received_at } }
        }, committedAt, row.topic, this.#deps.config.maxRecordBytes))
      }
      this.#observeLatency(parsed, rejected, committedAt)
    }

    if (deadLetters.length > 0) {
      const ok = await this.#produceWithRetry(deadLetters)
      if (!ok) return
      const counts = new Map<string, number>()
      for (const d of deadLetters) counts.set(d.reason, (counts.get(d.reason) ?? 0) + 1)
      for (const [reason, n] of counts) metrics.deadLetters.inc({ reason }, n)
    }

    const offsets = commitOffsets(batch)
    this.#commits = this.#commits.then(async () => {
      if (this.#commitFailed) return // a later commit covers these offsets after the rejoin
      try {
        const committed = await this.#consumer.commit(offsets, generation)
        if (!committed) this.#deps.logger.info({ generation }, 'group rebalanced since the batch was read; it is read again, not committed')
      } catch (err) {
        this.#deps.logger.warn({ err }, 'offset commit failed; rejoining from committed offsets')
        this.#commitFailed = true
      }
    })
  }

  /**
   * Device → commit and receipt → commit latency, one observation per stored row. The rows of
   * one message are neighbours and share both instants, so each instant is parsed once.
   */
  #observeLatency (parsed: ParsedBatch, rejected: ReadonlySet<number>, committedAt: number): void {
    const { metrics } = this.#deps
    const rows = parsed.rows
    let lastTs = ''
    let lastTsMs = 0
    let lastRx: string | null = null
    let lastRxMs = 0
    for (let i = 0; i < rows.length; i++) {
      if (rejected.has(i)) continue
      const row = rows[i] as Measurement
      if (row.timestamp !== lastTs) { lastTs = row.timestamp; lastTsMs = Date.parse(lastTs) }
      metrics.endToEnd.observe(Math.max(0, committedAt - lastTsMs) / 1000)
      if (row.received_at !== null) {
        if (row.received_at !== lastRx) { lastRx = row.received_at; lastRxMs = Date.parse(lastRx) }
        metrics.ingest.observe(Math.max(0, committedAt - lastRxMs) / 1000)
      }
    }
  }

  async #writeWithRetry (rows: Measurement[]): Promise<Awaited<ReturnType<RowWriter['writeBatch']>> | undefined> {
    const { metrics, logger, config } = this.#deps
    for (let attempt = 0; ; attempt++) {
      const t0 = performance.now()
      try {
        const result = await this.#deps.writer.writeBatch(rows)
        metrics.flushLatency.observe((performance.now() - t0) / 1000)
        metrics.batchSize.observe(rows.length)
        if (!this.#dbUp) logger.info({ attempts: attempt + 1 }, 'database reachable again; batch written')
        this.#dbUp = true
        metrics.dbUp.set(1)
        this.#failingSince = undefined
        return result
      } catch (err) {
        if (isF2Error(err) && err.code !== ErrorCodes.DB_UNAVAILABLE && !err.retryable) throw err
        this.#failingSince ??= performance.now()
        this.#dbUp = false
        metrics.dbUp.set(0)
        metrics.retries.inc()
        if (attempt % 10 === 0) logger.warn({ err, attempt, rows: rows.length }, 'database write failed; batch held, retrying')
        if (this.#stopping) return undefined
        await sleep(jitteredDelay(attempt, 200, config.retryMaxMs))
        if (this.#stopping) return undefined
      }
    }
  }

  /**
   * Sends the batch's dead letters, retrying with growing backoff. When the broker refuses a
   * record itself (not retryable), the refused ones are found by sending halves, then given
   * up (logged, counted in f2_sink_dropped_total) so that they never hold the batch; the
   * others are sent (at least once).
   */
  async #produceWithRetry (deadLetters: EncodedDeadLetter[]): Promise<boolean> {
    const { config, logger, metrics } = this.#deps
    const messages = deadLetters.map(d => buildRecord(config.deadLetterTopic, d.key, d.value, { reason: d.reason }))
    for (let attempt = 0; !this.#stopping; attempt++) {
      try {
        const producer = this.#producer ?? (this.#producer = createProducer({ clientId: `${config.instanceId}-producer`, bootstrapBrokers: config.brokers, retries: 5 }))
        const send = async (part: KafkaRecord[]): Promise<void> => { await producer.send({ messages: part }) }
        try {
          await send(messages)
        } catch (err) {
          if (!isRecordRejection(err)) throw err
          const refused = await findRefused(messages, send)
          for (const r of refused) {
            metrics.dropped.inc()
            logger.error({ err: r.error, bytes: r.record.value?.length }, 'Kafka refused a dead letter; given up')
          }
        }
        this.#failingSince = undefined
        return true
      } catch (err) {
        this.#failingSince ??= performance.now()
        if (attempt % 10 === 0) logger.warn({ err, attempt }, 'dead-letter produce failed; retrying')
        await sleep(jitteredDelay(attempt, 200, config.retryMaxMs))
      }
    }
    return false
  }
}

function toSinkRecord (m: RawMessage): SinkRecord {
  return { topic: m.topic, partition: m.partition, offset: m.offset, key: m.key ?? null, value: m.value ?? null }
}
