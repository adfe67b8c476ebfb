import { startHttp, type HttpHandle } from '../../adapters/http.ts'
import { BatchConsumer, commitOffsets } from '../../adapters/kafka-consumer.ts'
import type { Service } from '../../adapters/lifecycle.ts'
import type { Logger } from '../../adapters/logger.ts'
import { ErrorWithReasonCode } from 'mqtt'
import { Counter, createRegistry, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '../../adapters/metrics.ts'
import { createMqttClient, type InboundMessage, type MqttHandle } from '../../adapters/mqtt.ts'
import { COMMAND_REPLY_FILTERS } from '../../broker/dynsec.ts'
import { confirms, publications, TTL_LIMITS, type CommandSpec } from '../../core/command.ts'
import { ErrorCodes, isF2Error } from '../../core/errors.ts'
import { connect } from '../../storage/connection.ts'
import type { DispatcherConfig } from './config.ts'
import { CommandOutbox } from './outbox.ts'
import { linkProperties } from './outbox-packet.ts'
import { DispatcherStore } from './store.ts'

export interface DispatcherMetrics {
  registry: Registry
  commands: Counter<'kind' | 'state'>
  confirmSeconds: Histogram<'kind'>
  resumed: Counter<'kind'>
  resent: Counter<'step'>
  outboxOpen: Gauge
}

function createMetrics (outbox: () => number): DispatcherMetrics {
  const registry = createRegistry('dispatcher')
  const registers = [registry]
  return {
    registry,
    commands: new Counter({ name: 'f2_dispatcher_commands_total', help: 'Commands that reached a state, by kind and state (sent, confirmed, failed, expired)', labelNames: ['kind', 'state'], registers }),
    resumed: new Counter({ name: 'f2_dispatcher_commands_resumed_total', help: 'Commands claimed before a restart whose MQTT messages had not been stored in the outbox (so never written to the broker): published now, once', labelNames: ['kind'], registers }),
    resent: new Counter({ name: 'f2_dispatcher_outbox_resent_total', help: 'Unfinished publications resumed from the outbox at a (re)connection, by step: publish (repeated with DUP; the broker drops a repeat it holds), release (PUBREL), expired (PUBREL only: TTL passed)', labelNames: ['step'], registers }),
    outboxOpen: new Gauge({ name: 'f2_dispatcher_outbox_open', help: 'Publications in the outbox awaiting the broker\'s PUBCOMP', registers, collect () { this.set(outbox()) } }),
    confirmSeconds: new Histogram({ name: 'f2_dispatcher_confirm_seconds', help: 'Time from acceptance by the API to the controller\'s confirming reply', labelNames: ['kind'], buckets: LATENCY_BUCKETS, registers })
  }
}


interface Pending { spec: CommandSpec, expiresAt: number }

/** Completed outbox rows are kept for the longest TTL (see CommandOutbox.prune), pruned every minute. */
const OUTBOX_PRUNE_EVERY_MS = 60_000

/**
 * The dispatcher: reads `device_commands` (keyed by MAC, so one controller's commands keep
 * their order), claims each command in the database (accepted → sent, once, within its TTL)
 * and only then publishes it with QoS 2 and an MQTT message expiry of the TTL left, so a
 * controller that is offline with a persistent session gets it when it returns within the TTL
 * and never after. Replies on `stat/` and the readers' `tele/` confirm sent commands; a timer
 * marks those past their TTL expired. Every publication goes through the outbox (outbox.ts),
 * MQTT.js's outgoing store in PostgreSQL: a message is stored before it can reach the socket
 * and resent from there, with its packet identifier, after a restart, so the broker (whose
 * persistent session keeps the identifier until PUBREL) receives each command once. Offsets
 * are committed after a batch's commands are published (PUBCOMP) or found already claimed:
 * a restart, kill -9 included, re-reads at most that batch, and the claim and the outbox keep
 * a command from being written twice. Replies come through the same persistent session,
 * acknowledged once stored, so none is lost while the dispatcher is down.
 */
export function createDispatcher (config: Readonly<DispatcherConfig>, logger: Logger): Service & { metrics: DispatcherMetrics, port: () => number } {
  const metrics = createMetrics(() => outbox.size)
  const sql = connect(config.registry, { max: 4, connect_timeout: 5, connection: { application_name: 'f2-dispatcher' } })
  const store = new DispatcherStore(sql)
  const outbox = new CommandOutbox(sql, config.clientId, {
    onResend: step => { metrics.resent.inc({ step }) },
    onRetry: err => { logger.warn({ err }, 'recording a publication step in the outbox failed; retrying') }
  })
  const pending = new Map<string, Map<string, Pending>>()
  let mqtt: MqttHandle | undefined
  let consumer: BatchConsumer | undefined
  let http: HttpHandle | undefined
  let timer: NodeJS.Timeout | undefined
  let pruneTimer: NodeJS.Timeout | undefined
  let running = false
  let loop: Promise<void> | undefined

  const track = (mac: string, id: string, p: Pending): void => {
    let byId = pending.get(mac)
    if (byId === undefined) pending.set(mac, byId = new Map())
    byId.set(id, p)
  }
  const untrack = (mac: string, id: string): void => {
    const byId = pending.get(mac)
    byId?.delete(id)
    if (byId?.size === 0) pending.delete(mac)
  }

  // Acknowledged (manual ack) once the confirmation is stored or the reply found to confirm
  // nothing: a reply that arrived while the dispatcher was down, or before it stored it, is
  // delivered again from its persistent session.
  const onReply = (m: InboundMessage): void => {
    const mac = m.topic.split('/')[1]?.slice(3) ?? ''
    const byId = pending.get(mac)
    if (byId === undefined) {
      m.ack()
      return
    }
    const payload = m.payload.toString('utf8')
    for (const [id, p] of byId) {
      if (!confirms(mac, p.spec, m.topic, payload)) continue
      untrack(mac, id)
      store.confirm(id, { topic: m.topic, payload }).then(seconds => {
        if (seconds === undefined) return
        metrics.commands.inc({ kind: p.spec.kind, state: 'confirmed' })
        metrics.confirmSeconds.observe({ kind: p.spec.kind }, seconds)
      }).catch((err: unknown) => { logger.warn({ err, id }, 'could not record a confirmation') })
        .finally(() => { m.ack() })
      return
    }
    m.ack()
  }

  const dispatch = async (id: string): Promise<void> => {
    const claimed = await store.claim(id)
    if (claimed === undefined) return
    if (claimed.resumed) {
      metrics.resumed.inc({ kind: claimed.spec.kind })
      logger.info({ id }, 'a command claimed before a restart had not reached the broker; publishing it now')
    } else {
      metrics.commands.inc({ kind: claimed.spec.kind, state: 'sent' })
    }
    // Replies are matched to it only once a message of it is stored (may be on its way): a
    // reply before that is another command's, and must not confirm this one, which has not
    // been sent and would then never be.
    const expiresAt = Date.now() + claimed.remainingS * 1000
    const stored = (): void => { track(claimed.mac, id, { spec: claimed.spec, expiresAt }) }
    const messages = publications(claimed.mac, claimed.spec)
    try {
      for (const index of claimed.pending) {
        const p = messages[index] as (typeof messages)[number]
        await (mqtt as MqttHandle).client.publishAsync(p.topic, p.payload, {
          qos: 2,
          properties: { messageExpiryInterval: claimed.remainingS, userProperties: linkProperties({ commandId: id, publication: index, publications: messages.length }) },
          cbStorePut: stored
        })
      }
    } catch (err) {
      // The outbox refused it: another dispatcher stored it first (rebalance), or the command
      // ended meanwhile. Nothing was written; it is that dispatcher's, or final.
      if (isF2Error(err) && err.code === ErrorCodes.COMMAND_NOT_PUBLISHABLE && !err.retryable) {
        logger.info({ id, reason: err.details?.reason }, 'a command publication is not this dispatcher\'s to send; left alone')
        return
      }
      // Any other error before the outbox stored the message (database, a packet identifier
      // still in use, connection closed while queued) leaves nothing written: the batch is
      // read again and the claim resumes it.
      if (!(err instanceof ErrorWithReasonCode)) throw err
      untrack(claimed.mac, id)
      logger.warn({ err, id }, 'the broker refused a command')
      if (await store.fail(id, 'F2_MQTT_UNAVAILABLE')) metrics.commands.inc({ kind: claimed.spec.kind, state: 'failed' })
    }
  }

  const run = async (): Promise<void> => {
    while (running) {
      try {
        const batch = await (consumer as BatchConsumer).nextBatch(500)
        for (const record of batch) {
          const id = (JSON.parse(record.value.toString('utf8')) as { command_id?: unknown }).command_id
          if (typeof id === 'string') await dispatch(id)
          else logger.warn({ offset: String(record.offset) }, 'a device_commands record without command_id was skipped')
        }
        if (batch.length > 0) await (consumer as BatchConsumer).commit(commitOffsets(batch))
      } catch (err) {
        if (!running) return
        logger.warn({ err }, 'dispatch failed; the batch is read again')
        await new Promise(resolve => setTimeout(resolve, 1000))
        await consumer?.reset().catch(() => undefined)
      }
    }
  }

  const expire = async (): Promise<void> => {
    try {
      for (const e of await store.expireDue()) metrics.commands.inc({ kind: e.kind, state: 'expired' })
      const now = Date.now()
      for (const [mac, byId] of pending) for (const [id, p] of byId) if (p.expiresAt <= now) untrack(mac, id)
    } catch (err) {
      logger.warn({ err }, 'expiring commands failed')
    }
  }

  return {
    metrics,
    port: () => http?.port ?? config.httpPort,
    async start () {
      // Before the first reply can arrive: the session may hold replies to these.
      for (const c of await store.openSent()) track(c.mac, c.id, { spec: c.spec, expiresAt: c.expiresAt.getTime() })
      // Before the first connection: MQTT.js resends what the outbox holds at its CONNACK.
      const held = await outbox.load()
      if (held > 0) logger.info({ held }, 'resuming unfinished publications from the outbox')
      const options: Parameters<typeof createMqttClient>[0] = {
        url: config.mqttUrl,
        clientId: config.clientId,
        // A persistent session: replies that arrive while the dispatcher is down (restart,
        // kill -9) wait for it at the broker. None can confirm anything after the longest TTL.
        clean: false,
        sessionExpirySeconds: TTL_LIMITS.max,
        manualAck: true,
        receiveMaximum: 100,
        subscriptions: COMMAND_REPLY_FILTERS.map(filter => ({ filter, qos: 1 as const })),
        onMessage: onReply,
        outgoingStore: outbox,
        onError: err => { logger.warn({ err: err.message }, 'MQTT error') }
      }
      if (config.mqttUsername !== undefined) options.username = config.mqttUsername
      if (config.mqttPassword !== undefined) options.password = config.mqttPassword
      mqtt = createMqttClient(options)
      await mqtt.waitConnected(10_000)
      consumer = new BatchConsumer({
        bootstrapBrokers: config.brokers, groupId: config.groupId, clientId: config.clientId, topics: [config.topic], maxBatch: 100, maxWaitMs: 0, maxBuffered: 1000, logger
      })
      await consumer.start()
      running = true
      loop = run()
      timer = setInterval(() => { void expire() }, config.expireEveryMs)
      timer.unref()
      pruneTimer = setInterval(() => {
        outbox.prune(TTL_LIMITS.max).catch((err: unknown) => { logger.warn({ err }, 'pruning the outbox failed') })
      }, OUTBOX_PRUNE_EVERY_MS)
      pruneTimer.unref()
      http = await startHttp({
        host: config.httpHost,
        port: config.httpPort,
        registry: metrics.registry,
        readiness: () => ({ ready: running && (mqtt?.connected() ?? false), checks: { mqtt: mqtt?.connected() ?? false } })
      })
      logger.info({ topic: config.topic, port: http.port }, 'dispatcher running')
    },
    async stop () {
      running = false
      if (timer !== undefined) clearInterval(timer)
      if (pruneTimer !== undefined) clearInterval(pruneTimer)
      await consumer?.close()
      await loop
      await mqtt?.close()
      await http?.close()
      await sql.end({ timeout: 2 })
    }
  }
}
