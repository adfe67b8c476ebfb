import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { jitteredDelay } from '../../adapters/backoff.ts'
import { buildRecord, createProducer, isRecordRejection, kafkaTopicsReady, type KafkaProducer, type KafkaRecord } from '../../adapters/kafka.ts'
import { BatchConsumer, commitOffsets, stageConsumerOptions, type RawMessage } from '../../adapters/kafka-consumer.ts'
import type { Logger } from '../../adapters/logger.ts'
import type { Service } from '../../adapters/lifecycle.ts'
import { ErrorCodes, isF2Error } from '../../core/errors.ts'
import type { ProcessorConfig } from './config.ts'
import { isolateRefused } from './isolate.ts'
import type { ProcessorMetrics } from './metrics.ts'
import { lookupSensors, type SensorResolver } from './lookup.ts'
import { buildOutputs, type Outputs } from './records.ts'
import { assignPartitions, chunkRecords, partitionOf, SEND_CHUNK_BYTES } from './requests.ts'
import { prepare, rejectedDeadLetter, type OutputLimits } from './transform.ts'

export interface ProcessorDeps {
  config: ProcessorConfig
  logger: Logger
  metrics: ProcessorMetrics
  resolver: SensorResolver
  now?: () => number
}

/**
 * The data processor: `raw_iot_data` → decode → `decoded_iot_data` + `iot_dead_letter`.
 *
 * Per batch: read up to `batchSize` records, look up each distinct sensor once, decode, then
 * write every output and the input offsets together; the next batch is decoded while this one
 * is written, and writes are one at a time, in order. With transactions (the
 * default) outputs, dead letters and offsets are one Kafka transaction, so a consumer reading
 * `read_committed` sees each record's outputs exactly once. Without, outputs are produced
 * idempotently with acks=all and the offsets committed only afterwards (at-least-once; the
 * sink's primary key absorbs the repeats).
 *
 * A registry outage is not a property of the record: the batch is retried with backoff and
 * nothing is committed (reading pauses once the buffer is full). A Kafka failure while
 * writing aborts the batch, rebuilds the clients and re-reads from the committed offsets.
 */
export class ProcessorStage implements Service {
  readonly #deps: ProcessorDeps
  readonly #consumer: BatchConsumer
  #producer: KafkaProducer | undefined
  #loop: Promise<void> | undefined
  #stopping = false
  #producerReady = false
  #registryReady = true
  #recoverPending = false
  #recoverReason: string = ErrorCodes.KAFKA_PRODUCE_FAILED
  /** Consecutive recoveries without a successful write: the backoff grows with it. */
  #recoverAttempt = 0
  /** When writes started failing (none has succeeded since); undefined while they succeed. */
  #failingSince: number | undefined
  readonly #limits: OutputLimits

  constructor (deps: ProcessorDeps) {
    this.#deps = deps
    const c = deps.config
    this.#consumer = new BatchConsumer(stageConsumerOptions(c, [c.inputTopic], deps.logger))
    this.#limits = { maxRecordBytes: c.maxRecordBytes, window: { maxAheadMs: c.timestampMaxAheadMs, maxAgeMs: c.timestampMaxAgeMs } }
    deps.metrics.blocked.seconds = () => this.#failingSince === undefined ? 0 : (performance.now() - this.#failingSince) / 1000
  }

  readiness (): { ready: boolean, checks: Record<string, boolean> } {
    const checks = { kafka_consumer: this.#consumer.connected, kafka_producer: this.#producerReady, registry: this.#registryReady }
    return { ready: Object.values(checks).every(Boolean), checks }
  }

  async start (): Promise<void> {
    this.#producer = this.#createProducer()
    await this.#consumer.start()
    this.#loop = this.#run()
  }

  async stop (deadlineMs: number): Promise<void> {
    this.#stopping = true
    // The batch in hand finishes (or is abandoned uncommitted at the deadline): never half-committed.
    // Unreferenced: once the loop is done, the deadline timer must not keep the process alive.
    await Promise.race([this.#loop, sleep(Math.max(0, deadlineMs - 1000), undefined, { ref: false })])
    await this.#consumer.close()
    await this.#producer?.close().catch(() => {})
  }

  /**
   * Two batches overlap: while one batch's transaction is in flight, the next is read, looked
   * up and decoded. Transactions run one at a time, in order. A batch whose predecessor failed
   * is still written when the failure was a rebalance (its own generation decides whether the
   * coordinator takes it); after any other failure the consumer is rebuilt from the committed
   * offsets and the batch in hand is dropped, to be read again.
   */
  async #run (): Promise<void> {
    const { logger, metrics } = this.#deps
    let writing: Promise<void> = Promise.resolve()
    while (!this.#stopping) {
      if (this.#recoverPending) {
        await writing
        await this.#recover(this.#recoverReason, this.#recoverAttempt++)
        continue
      }
      let batch: RawMessage[]
      try {
        batch = await this.#consumer.nextBatch(500)
      } catch (err) {
        await writing
        logger.warn({ err }, 'consumer failed; rejoining from committed offsets')
        await this.#recover('F2_KAFKA_UNAVAILABLE', this.#recoverAttempt++)
        continue
      }
      if (batch.length === 0) continue
      const generation = this.#consumer.batchGeneration
      metrics.consumed.inc(batch.length)
      metrics.batchSize.observe(batch.length)
      const records = await this.#decode(batch)
      await writing
      if (records === undefined) break // stopping: nothing of this batch is committed
      if (this.#recoverPending) continue // recovery rewinds: the batch in hand is read again
      // Handed out before the last join: the consumer already reads it again from the committed
      // offsets, and its transaction would only be refused.
      if (this.#consumer.rebalancedSince(generation)) continue
      writing = this.#writeBatch(batch, records, generation)
    }
    await writing
  }

  /** Looks up the batch's sensors (retrying while the registry is down) and builds its outputs. */
  async #decode (batch: RawMessage[]): Promise<Outputs | undefined> {
    const { logger, metrics } = this.#deps
    const prepared = batch.map(m => prepare({ topic: m.topic, partition: m.partition, offset: m.offset, key: m.key ?? null, value: m.value ?? null }))
    for (let attempt = 0; !this.#stopping; attempt++) {
      try {
        const { sensors, lookupSeconds } = await lookupSensors(this.#deps.resolver, prepared)
        this.#registryReady = true
        return buildOutputs(prepared, sensors, lookupSeconds, { config: this.#deps.config, metrics: this.#deps.metrics, nowMs: (this.#deps.now ?? Date.now)(), limits: this.#limits })
      } catch (err) {
        if (!isF2Error(err) || !err.retryable) throw err
        this.#registryReady = false
        metrics.registryErrors.inc()
        metrics.batchFailures.inc({ reason: err.code })
        if (attempt % 10 === 0) logger.warn({ err, attempt }, 'registry unavailable; batch held, retrying')
        await sleep(jitteredDelay(attempt, 200, 10_000))
      }
    }
    return undefined
  }

  /** Writes one batch; never rejects. A failure marks the stage for recovery before the next write. */
  async #writeBatch (batch: RawMessage[], outputs: Outputs, generation: number): Promise<void> {
    const { logger, metrics } = this.#deps
    const records = outputs.records
    try {
      try {
        await this.#write(batch, records, generation)
      } catch (err) {
        if (!isRecordRejection(err) || this.#consumer.rebalancedSince(generation)) throw err
        await this.#writeIsolating(batch, outputs, generation, err)
      }
      this.#producerReady = true
      this.#recoverAttempt = 0
      this.#failingSince = undefined
    } catch (err) {
      // Offsets were not committed: the batch will be read again from Kafka, not from memory.
      if (this.#consumer.rebalancedSince(generation)) {
        // The join already rewound the consumer to the committed offsets.
        logger.info({ err: (err as Error).message }, 'batch aborted by a rebalance; it is read again')
        metrics.batchFailures.inc({ reason: 'REBALANCE' })
        await this.#replaceProducer()
        return
      }
      this.#producerReady = false
      this.#failingSince ??= performance.now()
      logger.warn({ err, records: records.length }, 'batch write failed; rejoining from committed offsets')
      this.#recoverPending = true
      this.#recoverReason = isF2Error(err) ? err.code : ErrorCodes.KAFKA_PRODUCE_FAILED
    }
  }

  /**
   * The broker refused a record of the batch (not retryable): the refused records are found
   * by sending halves — inside transactions that are then aborted, so nothing of a probe is
   * visible to read_committed readers; without transactions the probes are real sends (at
   * least once) — each is replaced by a dead letter of its message, and the batch is written.
   * A replacement the broker refuses too is given up, logged and counted.
   */
  async #writeIsolating (batch: RawMessage[], outputs: Outputs, generation: number, cause: unknown): Promise<void> {
    const { logger, metrics, config } = this.#deps
    logger.warn({ err: cause, records: outputs.records.length }, 'Kafka refused a record of the batch; isolating it')
    // After a refusal the client's idempotence sequence no longer matches the broker's: every
    // probe, and the final write, starts from a fresh producer. Transactional probes each get
    // a transactional id of their own: readers drop aborted transactions per producer id.
    const fresh = async (): Promise<KafkaProducer> => {
      await this.#replaceProducer()
      return (this.#producer = this.#createProducer())
    }
    const probe = async (part: KafkaRecord[]): Promise<void> => {
      if (!config.transactions) {
        const producer = await fresh()
        for (const chunk of chunkRecords(part, SEND_CHUNK_BYTES, partitionOf)) await producer.send({ messages: chunk })
        return
      }
      const producer = createProducer({
        clientId: `${config.instanceId}-probe`,
        bootstrapBrokers: config.brokers,
        transactionalId: `${config.groupId}-${config.instanceId}-probe-${randomUUID()}`,
        requestTimeoutMs: 15_000
      })
      try {
        const txn = await producer.beginTransaction()
        try {
          for (const chunk of chunkRecords(part, SEND_CHUNK_BYTES, partitionOf)) await txn.send({ messages: chunk })
        } finally {
          if (!txn.completed) await txn.abort().catch(() => {})
        }
      } finally {
        await producer.close(true).catch(() => {})
      }
    }
    const left = await isolateRefused({
      records: outputs.records,
      origins: outputs.origins,
      transactions: config.transactions,
      probe,
      replacement: (origin, error) => {
        const dl = rejectedDeadLetter(origin, (error as Error).message, (this.#deps.now ?? Date.now)(), this.#limits)
        metrics.deadLetters.inc({ reason: dl.reason })
        return buildRecord(config.deadLetterTopic, dl.key, dl.value, { reason: dl.reason })
      },
      onGivenUp: (record, error) => {
        metrics.dropped.inc()
        logger.error({ err: error, topic: record.topic }, 'Kafka refused a dead letter; given up')
      }
    })
    await fresh()
    // Without transactions this only commits the offsets (the probes sent everything).
    await this.#write(batch, left, generation)
  }

  async #write (batch: RawMessage[], records: KafkaRecord[], generation: number): Promise<void> {
    const producer = this.#producer ?? (this.#producer = this.#createProducer())
    const offsets = commitOffsets(batch)
    if (!this.#deps.config.transactions) {
      await this.#assignPartitions(producer, records)
      for (const chunk of chunkRecords(records, SEND_CHUNK_BYTES, partitionOf)) await producer.send({ messages: chunk })
      const t0 = performance.now()
      // Refused after a rebalance: the outputs are out, the batch is read again (at-least-once).
      if (!await this.#consumer.commit(offsets, generation)) {
        this.#deps.logger.info({ generation }, 'group rebalanced since the batch was read; it is read again, not committed')
        return
      }
      this.#deps.metrics.commitLatency.observe((performance.now() - t0) / 1000)
      return
    }
    let txn: Awaited<ReturnType<KafkaProducer['beginTransaction']>> | undefined
    try {
      await this.#assignPartitions(producer, records)
      txn = await producer.beginTransaction()
      const t = txn
      for (const chunk of chunkRecords(records, SEND_CHUNK_BYTES, partitionOf)) await t.send({ messages: chunk })
      const t0 = performance.now()
      await t.addConsumer(this.#consumer.consumer)
      // Stamped with the generation the batch was handed out in: after a rebalance the
      // coordinator refuses it and the transaction aborts (the batch is read again).
      const group = this.#consumer.groupMetadata(generation)
      // One at a time: the client coalesces concurrent offset commits into the first one.
      for (const o of offsets) {
        await t.addOffset({ topic: o.topic, partition: o.partition, offset: o.offset - 1n, metadata: { consumer: group } } as unknown as RawMessage)
      }
      await t.commit()
      this.#deps.metrics.commitLatency.observe((performance.now() - t0) / 1000)
    } catch (err) {
      if (txn !== undefined && !txn.completed) await txn.abort().catch(() => {})
      throw err
    }
  }

  /** Sets each record's partition from the output topics' partition counts (the client's cache). */
  async #assignPartitions (producer: KafkaProducer, records: KafkaRecord[]): Promise<void> {
    const metadata = await producer.metadata({ topics: outputTopics(this.#deps.config), autocreateTopics: false })
    assignPartitions(records, metadata.topics)
  }

  async #replaceProducer (): Promise<void> {
    const old = this.#producer
    this.#producer = undefined
    await old?.close(true).catch(() => {})
  }

  async #recover (reason: string, attempt: number): Promise<void> {
    this.#recoverPending = false
    this.#deps.metrics.batchFailures.inc({ reason })
    await this.#replaceProducer()
    await sleep(jitteredDelay(attempt, 500, 10_000))
    if (this.#stopping) return
    try {
      this.#producer = this.#createProducer()
      await this.#consumer.reset()
    } catch (err) {
      this.#deps.logger.warn({ err }, 'kafka not reachable yet')
    }
  }

  #createProducer (): KafkaProducer {
    const c = this.#deps.config
    const producer = createProducer({
      clientId: `${c.instanceId}-producer`,
      bootstrapBrokers: c.brokers,
      compression: c.compression,
      retries: 5,
      // Stable across restarts: the restarted instance fences and aborts its predecessor's
      // open transaction at once instead of leaving read_committed readers waiting.
      ...(c.transactions ? { transactionalId: `${c.groupId}-${c.instanceId}`, requestTimeoutMs: 15_000 } : {})
    })
    void this.#probeProducer(producer)
    return producer
  }

  /**
   * Readiness must not wait for the first batch (an idle processor would never be ready): a
   * producer counts as ready once the cluster answers it with its output topics, retried
   * with backoff until it does, the producer is replaced, or the stage stops.
   */
  async #probeProducer (producer: KafkaProducer): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const ok = await kafkaTopicsReady(producer, outputTopics(this.#deps.config))
      // Checked after the first await: the caller stores the producer once it is created.
      if (this.#stopping || this.#producer !== producer) return
      if (ok) {
        this.#producerReady = true
        return
      }
      await sleep(jitteredDelay(attempt, 500, 10_000), undefined, { ref: false })
    }
  }
}

/** The topics the processor writes to. */
function outputTopics (c: Pick<ProcessorConfig, 'outputTopic' | 'deadLetterTopic' | 'activityTopic'>): string[] {
  return c.activityTopic === null ? [c.outputTopic, c.deadLetterTopic] : [c.outputTopic, c.deadLetterTopic, c.activityTopic]
}
