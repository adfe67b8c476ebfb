import { startHttp, type HttpHandle } from '../../adapters/http.ts'
import { BatchConsumer, commitOffsets } from '../../adapters/kafka-consumer.ts'
import type { Service } from '../../adapters/lifecycle.ts'
import type { Logger } from '../../adapters/logger.ts'
import { Counter, createRegistry, Histogram, LATENCY_BUCKETS, type Registry } from '../../adapters/metrics.ts'
import { createMqttClient, type InboundMessage, type MqttHandle } from '../../adapters/mqtt.ts'
import { COMMAND_REPLY_FILTERS } from '../../broker/dynsec.ts'
import { confirms, publications, TTL_LIMITS, type CommandSpec } from '../../core/command.ts'
import { connect } from '../../storage/connection.ts'
import type { DispatcherConfig } from './config.ts'
import { DispatcherStore } from './store.ts'

export interface DispatcherMetrics {
  registry: Registry
  commands: Counter<'kind' | 'state'>
  confirmSeconds: Histogram<'kind'>
  republished: Counter<'kind'>
}

function createMetrics (): DispatcherMetrics {
  const registry = createRegistry('dispatcher')
  const registers = [registry]
  return {
    registry,
    commands: new Counter({ name: 'f2_dispatcher_commands_total', help: 'Commands that reached a state, by kind and state (sent, confirmed, failed, expired)', labelNames: ['kind', 'state'], registers }),
    republished: new Counter({ name: 'f2_dispatcher_commands_republished_total', help: 'Commands published again after a restart: claimed before it, their publication never acknowledged (at-least-once window)', labelNames: ['kind'], registers }),
    confirmSeconds: new Histogram({ name: 'f2_dispatcher_confirm_seconds', help: 'Time from acceptance by the API to the controller\'s confirming reply', labelNames: ['kind'], buckets: LATENCY_BUCKETS, registers })
  }
}


interface Pending { spec: CommandSpec, expiresAt: number }

/**
 * The dispatcher: reads `device_commands` (keyed by MAC, so one controller's commands keep
 * their order), claims each command in the database (accepted → sent, once, within its TTL)
 * and only then publishes it with QoS 1 and an MQTT message expiry of the TTL left, so a
 * controller that is offline with a persistent session gets it when it returns within the TTL
 * and never after. Replies on `stat/` and the readers' `tele/` confirm sent commands; a timer
 * marks those past their TTL expired. Each publication the broker acknowledged is recorded
 * (`published_at`), and offsets are committed after a batch's commands are claimed, published
 * and recorded (or found already so): a restart, kill -9 included, re-reads at most that batch;
 * the claim keeps a recorded command from being published again, and a command claimed but
 * not recorded is published then (at least once: it may have reached the controller just
 * before the crash). Replies come through a persistent session, acknowledged once stored, so
 * none is lost while the dispatcher is down.
 */
export function createDispatcher (config: Readonly<DispatcherConfig>, logger: Logger): Service & { metrics: DispatcherMetrics, port: () => number } {
  const metrics = createMetrics()
  const sql = connect(config.registry, { max: 4, connect_timeout: 5, connection: { application_name: 'f2-dispatcher' } })
  const store = new DispatcherStore(sql)
  const pending = new Map<string, Map<string, Pending>>()
  let mqtt: MqttHandle | undefined
  let consumer: BatchConsumer | undefined
  let http: HttpHandle | undefined
  let timer: NodeJS.Timeout | undefined
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
    if (claimed.again) {
      metrics.republished.inc({ kind: claimed.spec.kind })
      logger.info({ id }, 'a command claimed before a restart was not acknowledged by the broker; publishing it now')
    } else {
      metrics.commands.inc({ kind: claimed.spec.kind, state: 'sent' })
    }
    track(claimed.mac, id, { spec: claimed.spec, expiresAt: Date.now() + claimed.remainingS * 1000 })
    try {
      for (const p of publications(claimed.mac, claimed.spec)) {
        await (mqtt as MqttHandle).client.publishAsync(p.topic, p.payload, { qos: 1, properties: { messageExpiryInterval: claimed.remainingS } })
      }
    } catch (err) {
      untrack(claimed.mac, id)
      logger.warn({ err, id }, 'publishing a command failed')
      if (await store.fail(id, 'F2_MQTT_UNAVAILABLE')) metrics.commands.inc({ kind: claimed.spec.kind, state: 'failed' })
      return
    }
    // Not recorded (the database failed just now): a restart before this batch is committed
    // publishes it again; otherwise it stays as it is and is confirmed or expires.
    await store.published(id).catch((err: unknown) => { logger.warn({ err, id }, 'could not record a publication') })
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
      await consumer?.close()
      await loop
      await mqtt?.close()
      await http?.close()
      await sql.end({ timeout: 2 })
    }
  }
}
