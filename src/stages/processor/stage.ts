import { compatibilityPartitioner, Producer } from '@platformatic/kafka'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { backoffDelay, buildRecord, createProducer, type KafkaProducer, type KafkaRecord } from '../../adapters/kafka.ts'
import { BatchConsumer, commitOffsets, type RawMessage } from '../../adapters/kafka-consumer.ts'
import type { Logger } from '../../adapters/logger.ts'
import type { Service } from '../../adapters/lifecycle.ts'
import { ErrorCodes, isF2Error } from '../../core/errors.ts'
import type { Result } from '../../core/result.ts'
import type { SensorDefinition } from '../../core/sensor.ts'
import type { ProcessorConfig } from './config.ts'
import type { ProcessorMetrics } from './metrics.ts'
import { finish, parseSensorKey, prepare, type Prepared } from './transform.ts'

/** What the processor needs from the device registry (RegistryStore satisfies it). */
export interface SensorResolver {
  resolveSensor: (mac: string, connector: number, pin: number) => Promise<Result<SensorDefinition>>
}

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
 * One batch at a time: read up to `batchSize` records, look up each distinct sensor once,
 * decode, then write every output and the input offsets together. With transactions (the
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

  constructor (deps: ProcessorDeps) {
    this.#deps = deps
    const c = deps.config
    this.#consumer = new BatchConsumer({
      bootstrapBrokers: c.brokers,
      groupId: c.groupId,
      clientId: `${c.instanceId}-consumer`,
      topics: [c.inputTopic],
      maxBatch: c.batchSize,
      maxWaitMs: c.batchWaitMs,
      maxBuffered: c.maxBuffered,
      sessionTimeoutMs: c.sessionTimeoutMs,
      logger: deps.logger
    })
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

  async #run (): Promise<void> {
    const { logger } = this.#deps
    while (!this.#stopping) {
      let batch: RawMessage[]
      try {
        batch = await this.#consumer.nextBatch(500)
      } catch (err) {
        logger.warn({ err }, 'consumer failed; rejoining from committed offsets')
        await this.#recover('F2_KAFKA_UNAVAILABLE', 0)
        continue
      }
      if (batch.length === 0) continue
      this.#deps.metrics.consumed.inc(batch.length)
      this.#deps.metrics.batchSize.observe(batch.length)
      await this.#handle(batch)
    }
  }

  /** Retries one batch until it is written and committed, or the consumer is rebuilt. */
  async #handle (batch: RawMessage[]): Promise<void> {
    const { logger, metrics } = this.#deps
    const prepared = batch.map(m => prepare({ topic: m.topic, partition: m.partition, offset: m.offset, key: m.key ?? null, value: m.value ?? null }))
    for (let attempt = 0; !this.#stopping; attempt++) {
      let sensors: Map<string, Result<SensorDefinition>>
      let lookupSeconds: Map<string, number>
      try {
        ({ sensors, lookupSeconds } = await this.#lookup(prepared))
        this.#registryReady = true
      } catch (err) {
        if (!isF2Error(err) || !err.retryable) throw err
        this.#registryReady = false
        metrics.registryErrors.inc()
        metrics.batchFailures.inc({ reason: err.code })
        if (attempt % 10 === 0) logger.warn({ err, attempt }, 'registry unavailable; batch held, retrying')
        await sleep(backoffDelay(attempt, 200, 10_000))
        continue
      }
      const records = this.#outputs(prepared, sensors, lookupSeconds)
      try {
        await this.#write(batch, records)
        this.#producerReady = true
        return
      } catch (err) {
        // Offsets were not committed: the batch will be read again from Kafka, not from memory.
        if (this.#consumer.rebalancedSinceBatch) {
          // The join already rewound the consumer to the committed offsets.
          logger.info({ err: (err as Error).message }, 'batch aborted by a rebalance; it is read again')
          metrics.batchFailures.inc({ reason: 'REBALANCE' })
          await this.#replaceProducer()
          return
        }
        this.#producerReady = false
        logger.warn({ err, attempt, records: records.length }, 'batch write failed; rejoining from committed offsets')
        await this.#recover(isF2Error(err) ? err.code : ErrorCodes.KAFKA_PRODUCE_FAILED, attempt)
        return
      }
    }
  }

  async #lookup (prepared: Prepared[]): Promise<{ sensors: Map<string, Result<SensorDefinition>>, lookupSeconds: Map<string, number> }> {
    const keys = new Set<string>()
    for (const p of prepared) if (p.ok && p.sensorKey !== null) keys.add(p.sensorKey)
    const sensors = new Map<string, Result<SensorDefinition>>()
    const lookupSeconds = new Map<string, number>()
    await Promise.all([...keys].map(async key => {
      const { mac, connector, pin } = parseSensorKey(key)
      const t0 = performance.now()
      sensors.set(key, await this.#deps.resolver.resolveSensor(mac, connector, pin))
      lookupSeconds.set(key, (performance.now() - t0) / 1000)
    }))
    return { sensors, lookupSeconds }
  }

  #outputs (prepared: Prepared[], sensors: Map<string, Result<SensorDefinition>>, lookupSeconds: Map<string, number>): KafkaRecord[] {
    const { config, metrics } = this.#deps
    const now = (this.#deps.now ?? Date.now)()
    const records: KafkaRecord[] = []
    const produced = new Map<string, number>()
    const dead = new Map<string, number>()
    for (const p of prepared) {
      const t0 = performance.now()
      const out = finish(p, sensors, config.zone, now)
      const lookup = p.ok && p.sensorKey !== null ? lookupSeconds.get(p.sensorKey) ?? 0 : 0
      metrics.decodeLatency.observe((performance.now() - t0) / 1000 + lookup)
      for (const m of out.measurements) {
        records.push(buildRecord(config.outputTopic, m.device_id, Buffer.from(JSON.stringify(m))))
      }
      if (out.measurements.length > 0 && p.ok) {
        produced.set(p.topic.component, (produced.get(p.topic.component) ?? 0) + out.measurements.length)
      }
      for (const d of out.deadLetters) {
        records.push(buildRecord(config.deadLetterTopic, d.key, d.value, { reason: d.reason }))
        dead.set(d.reason, (dead.get(d.reason) ?? 0) + 1)
      }
    }
    // Counted when built; a batch that is aborted and re-read counts again (see docs).
    for (const [component, n] of produced) metrics.produced.inc({ component }, n)
    for (const [reason, n] of dead) metrics.deadLetters.inc({ reason }, n)
    return records
  }

  async #write (batch: RawMessage[], records: KafkaRecord[]): Promise<void> {
    const producer = this.#producer ?? (this.#producer = this.#createProducer())
    const offsets = commitOffsets(batch)
    if (!this.#deps.config.transactions) {
      for (const chunk of chunks(records)) await producer.send({ messages: chunk })
      const t0 = performance.now()
      await this.#consumer.commit(offsets)
      this.#deps.metrics.commitLatency.observe((performance.now() - t0) / 1000)
      return
    }
    let txn: Awaited<ReturnType<KafkaProducer['beginTransaction']>> | undefined
    try {
      txn = await producer.beginTransaction()
      for (const chunk of chunks(records)) await txn.send({ messages: chunk })
      const t0 = performance.now()
      await txn.addConsumer(this.#consumer.consumer)
      const group = this.#consumer.groupMetadata()
      // The offset message is stamped with the current generation: records fetched before a
      // rebalance carry the old one, which the coordinator would refuse.
      for (const o of offsets) {
        await txn.addOffset({ topic: o.topic, partition: o.partition, offset: o.offset - 1n, metadata: { consumer: group } } as unknown as RawMessage)
      }
      await txn.commit()
      this.#deps.metrics.commitLatency.observe((performance.now() - t0) / 1000)
    } catch (err) {
      if (txn !== undefined && !txn.completed) await txn.abort().catch(() => {})
      throw err
    }
  }

  async #replaceProducer (): Promise<void> {
    const old = this.#producer
    this.#producer = undefined
    await old?.close(true).catch(() => {})
  }

  async #recover (reason: string, attempt: number): Promise<void> {
    this.#deps.metrics.batchFailures.inc({ reason })
    await this.#replaceProducer()
    await sleep(backoffDelay(attempt, 500, 10_000))
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
    if (!c.transactions) return createProducer({ clientId: `${c.instanceId}-producer`, bootstrapBrokers: c.brokers, retries: 5 })
    return new Producer<Buffer, Buffer, string, Buffer>({
      clientId: `${c.instanceId}-producer`,
      bootstrapBrokers: [...c.brokers],
      // Stable across restarts: the restarted instance fences and aborts its predecessor's
      // open transaction at once instead of leaving read_committed readers waiting.
      transactionalId: `${c.groupId}-${c.instanceId}`,
      idempotent: true,
      // A fresh id/epoch request: the coordinator bumps the epoch of whatever producer held this
      // transactional id before (a killed predecessor) and aborts its open transaction. The
      // client's default (id 0, epoch 0) is refused with PRODUCER_FENCED once the id has history.
      producerId: -1n,
      producerEpoch: -1,
      acks: -1,
      partitioner: compatibilityPartitioner,
      // Also the transaction timeout the coordinator applies.
      timeout: 15_000,
      retries: 5,
      retryDelay: 250,
      autocreateTopics: false,
      serializers: { headerKey: (key?: string) => key === undefined ? undefined : Buffer.from(key, 'utf8') }
    })
  }
}

/**
 * Produce requests are kept well under the broker's record-batch limit (message.max.bytes,
 * 1 MiB by default): a decoded sensor frame fans out into several measurements, so one
 * input batch can be several MiB of output.
 */
const SEND_CHUNK = 1000

function * chunks<T> (items: T[]): Generator<T[]> {
  for (let i = 0; i < items.length; i += SEND_CHUNK) yield items.slice(i, i + SEND_CHUNK)
}
