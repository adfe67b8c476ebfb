import { createProducer, kafkaTopicsReady, produce, type KafkaProducer } from '../../adapters/kafka.ts'
import type { Logger } from '../../adapters/logger.ts'
import type { Service } from '../../adapters/lifecycle.ts'
import { createMqttClient, type InboundMessage, type MqttHandle } from '../../adapters/mqtt.ts'
import { ErrorCodes } from '../../core/errors.ts'
import type { ConnectorConfig } from './config.ts'
import { createForwarder, type Forwarder } from './forwarder.ts'
import type { ConnectorMetrics } from './metrics.ts'
import { rejectedRecord, toRecord, topicKind } from './records.ts'

export interface ConnectorDeps {
  config: ConnectorConfig
  logger: Logger
  metrics: ConnectorMetrics
}

export interface ConnectorStats {
  received: number
  forwarded: number
  deadLettered: number
  staleDropped: number
  /** QoS 0 messages dropped beyond the in-flight bound, and dead letters the broker refused. */
  dropped: number
  inFlight: number
  inFlightBytes: number
}

const METADATA_CHECK_MS = 5000

/**
 * MQTT → Kafka. Every message received on the (shared) subscriptions becomes one record on
 * the raw topic — or one dead letter — keyed by controller, and its PUBACK is sent only after
 * Kafka acknowledged that record (at-least-once; see forwarder.ts for ordering and retries).
 *
 * The MQTT session is persistent (`clean: false`, stable client id, session expiry), so a
 * restarted connector resumes its subscriptions and gets every unacknowledged message again.
 * At most `receiveMaximum` messages are in flight: the broker holds the rest.
 */
export class ConnectorStage implements Service {
  readonly #deps: ConnectorDeps
  readonly #producer: KafkaProducer
  readonly #forwarder: Forwarder
  #mqtt: MqttHandle | undefined
  #kafkaUp = false
  #draining = false
  #checkTimer: NodeJS.Timeout | undefined
  #lastKafkaSuccess = 0
  readonly #stats = { received: 0, forwarded: 0, deadLettered: 0, staleDropped: 0, dropped: 0 }
  #lastDropLog = 0

  constructor (deps: ConnectorDeps) {
    this.#deps = deps
    const c = deps.config
    this.#producer = createProducer({
      clientId: `${c.clientId}-producer`,
      bootstrapBrokers: c.brokers,
      compression: c.compression,
      requestTimeoutMs: c.requestTimeoutMs
    })
    const m = deps.metrics
    this.#forwarder = createForwarder({
      send: async records => { await produce(this.#producer, records) },
      batchSize: c.batchSize,
      batchBytes: c.batchBytes,
      lingerMs: c.lingerMs,
      retryMinMs: c.retryMinMs,
      retryMaxMs: c.retryMaxMs,
      onSent: (batch, seconds) => {
        this.#setKafka(true)
        m.produceLatency.observe(seconds)
        for (const p of batch) {
          if (p.deadLetterReason === null) {
            m.forwarded.inc()
            this.#stats.forwarded++
          } else {
            m.deadLetters.inc({ reason: p.deadLetterReason })
            this.#stats.deadLettered++
          }
        }
        m.inFlight.set(this.#forwarder.pending() - batch.length)
        // Acknowledgements follow this call; reading resumes once the bytes are released.
        queueMicrotask(() => {
          m.inFlightBytes.set(this.#forwarder.pendingBytes())
          this.#mqtt?.resume()
        })
      },
      onRejected: (reason, err) => {
        deps.logger.warn({ err, reason }, 'Kafka refused a record; its dead letter replaces it')
      },
      onDropped: (item, err) => {
        m.dropped.inc({ reason: 'dead_letter_refused' })
        this.#stats.dropped++
        deps.logger.error({ err, reason: item.deadLetterReason }, 'Kafka refused a dead letter; the message is acknowledged and given up')
      },
      onStale: count => {
        this.#stats.staleDropped += count
        deps.logger.info({ count }, 'dropped unsent messages of a closed MQTT connection; the broker redelivers them')
      },
      onSendError: (err, attempt) => {
        m.produceErrors.inc()
        this.#setKafka(false)
        const log = attempt === 0 || attempt % 10 === 0 ? deps.logger.warn.bind(deps.logger) : deps.logger.debug.bind(deps.logger)
        log({ err, attempt, pending: this.#forwarder.pending() }, 'Kafka produce failed; retrying, MQTT acknowledgements withheld')
      }
    })
    const forwarder = this.#forwarder
    m.blocked.seconds = () => forwarder.blockedSeconds()
  }

  readiness (): { ready: boolean, checks: Record<string, boolean> } {
    const checks = { mqtt: this.#mqtt?.connected() ?? false, kafka: this.#kafkaUp }
    return { ready: checks.mqtt && checks.kafka, checks }
  }

  stats (): ConnectorStats {
    return { ...this.#stats, inFlight: this.#forwarder.pending(), inFlightBytes: this.#forwarder.pendingBytes() }
  }

  async start (): Promise<void> {
    const { config: c, logger, metrics: m } = this.#deps
    this.#setKafka(await kafkaTopicsReady(this.#producer, [c.topic, c.deadLetterTopic], c.requestTimeoutMs))
    if (!this.#kafkaUp) logger.warn({ brokers: c.brokers, topic: c.topic }, 'Kafka not reachable (or topics missing) at start; messages will wait unacknowledged')
    const options: Parameters<typeof createMqttClient>[0] = {
      url: c.mqttUrl,
      clientId: c.clientId,
      clean: false,
      sessionExpirySeconds: c.sessionExpirySeconds,
      receiveMaximum: c.receiveMaximum,
      keepaliveSeconds: c.keepaliveSeconds,
      reconnectMinMs: c.reconnectMinMs,
      reconnectMaxMs: c.reconnectMaxMs,
      manualAck: true,
      // QoS 1 beyond the byte bound waits at the broker (reading pauses); see #onMessage for QoS 0.
      holdWhile: () => this.#forwarder.pendingBytes() >= c.maxInFlightBytes,
      subscriptions: c.subscriptions.map(filter => ({ filter, qos: 1 })),
      onMessage: msg => { this.#onMessage(msg) },
      onConnect: ({ sessionPresent, reconnect }) => {
        m.mqttConnected.set(1)
        if (reconnect) m.mqttReconnects.inc()
        logger.info({ url: c.mqttUrl, clientId: c.clientId, sessionPresent, subscriptions: c.subscriptions }, 'MQTT connected')
      },
      onDisconnect: () => { m.mqttConnected.set(0) },
      onError: err => { logger.warn({ err: err.message }, 'MQTT error') }
    }
    if (c.mqttUsername !== undefined) options.username = c.mqttUsername
    if (c.mqttPassword !== undefined) options.password = c.mqttPassword
    if (c.mqttTls !== undefined) options.tls = c.mqttTls
    this.#mqtt = createMqttClient(options)
    this.#checkTimer = setInterval(() => { void this.#checkKafka() }, METADATA_CHECK_MS)
    this.#checkTimer.unref()
    await this.#mqtt.waitConnected(Math.max(10_000, c.reconnectMaxMs))
  }

  /**
   * Stops taking messages, waits (within the deadline) until everything received was
   * acknowledged by Kafka and then to MQTT, and closes both clients. Messages still
   * unacknowledged at the deadline stay with the broker and are redelivered later.
   */
  async stop (deadlineMs: number): Promise<void> {
    this.#draining = true
    clearInterval(this.#checkTimer)
    const drained = await this.#forwarder.drain(Math.max(0, deadlineMs - 1000))
    if (!drained) this.#deps.logger.warn({ pending: this.#forwarder.pending() }, 'stopping with unacknowledged messages; the broker will redeliver them')
    this.#forwarder.stop()
    await this.#mqtt?.close(!drained)
    this.#deps.metrics.mqttConnected.set(0)
    await this.#producer.close(true).catch(() => {})
  }

  #onMessage (msg: InboundMessage): void {
    // While draining, a message is neither forwarded nor acknowledged: the broker keeps it.
    if (this.#draining) return
    const { config: c, metrics: m } = this.#deps
    this.#stats.received++
    m.received.inc({ kind: topicKind(msg.topic) })
    if (msg.retain) m.retained.inc()
    if (msg.dup) m.redelivered.inc()
    const f = this.#forwarder
    if (msg.qos === 0 && (f.pending() >= c.maxInFlight || f.pendingBytes() >= c.maxInFlightBytes)) {
      // QoS 0 cannot wait at the broker (nothing is acknowledged), and holding it here would
      // grow without bound during a Kafka outage: beyond the bound it is dropped, counted.
      m.dropped.inc({ reason: 'qos0_overflow' })
      this.#stats.dropped++
      if (Date.now() - this.#lastDropLog > 10_000) {
        this.#lastDropLog = Date.now()
        this.#deps.logger.warn({ dropped: this.#stats.dropped, pending: f.pending(), pendingBytes: f.pendingBytes() }, 'in-flight bound reached; QoS 0 messages are dropped (counted)')
      }
      return
    }
    const { record, deadLetterReason } = toRecord(msg, c)
    f.push({
      record,
      ack: msg.ack,
      stale: msg.stale,
      deadLetterReason,
      bytes: msg.payload.length + (record.value?.length ?? 0),
      ...(deadLetterReason === null ? { rejected: (err: unknown) => ({ record: rejectedRecord(msg, c, `Kafka refused the record: ${(err as Error).message}`), reason: ErrorCodes.RECORD_REJECTED }) } : {})
    })
    m.inFlight.set(f.pending())
    m.inFlightBytes.set(f.pendingBytes())
  }

  #setKafka (up: boolean): void {
    this.#kafkaUp = up
    if (up) this.#lastKafkaSuccess = Date.now()
    this.#deps.metrics.kafkaConnected.set(up ? 1 : 0)
  }

  async #checkKafka (): Promise<void> {
    // A produce that succeeded recently is proof enough; ask only when idle (or failing).
    if (this.#kafkaUp && Date.now() - this.#lastKafkaSuccess < METADATA_CHECK_MS) return
    const c = this.#deps.config
    this.#setKafka(await kafkaTopicsReady(this.#producer, [c.topic, c.deadLetterTopic], c.requestTimeoutMs))
  }
}
