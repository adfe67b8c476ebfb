import { readFileSync } from 'node:fs'
import { connect, type IClientOptions, type IPublishPacket, type IStore, type MqttClient, type Packet } from 'mqtt'
import { jitteredDelay } from './backoff.ts'

/**
 * MQTT v5 client factory shared by the stages.
 *
 * Reconnection is ours, not MQTT.js's fixed period: after a lost or refused connection the
 * next attempt waits an exponentially growing, jittered delay, so a fleet of clients does not
 * hammer a broker that has just come back.
 *
 * Manual acknowledgement (`manualAck`): a QoS 1 PUBLISH is handed to `onMessage` with an
 * `ack()` function and its PUBACK is written only when `ack()` is called. MQTT.js's own hook
 * for this (`customHandleAcks` / `handleMessage`) processes one packet at a time: holding its
 * callback until a downstream write completes would stall the whole connection (pings
 * included) behind that one message. So `handleMessage` hands the message on and tells the
 * library not to acknowledge it; `ack()` later writes the PUBACK itself. Unacknowledged
 * messages are bounded by the broker through `receiveMaximum`; they stay in the persistent
 * session and are redelivered after a reconnect. An `ack()` that arrives after the connection
 * it came on has closed is dropped on purpose: the broker redelivers that message on the new
 * connection, and acknowledging a packet id there could acknowledge a different message.
 */

export interface InboundMessage {
  topic: string
  payload: Buffer
  qos: 0 | 1 | 2
  retain: boolean
  dup: boolean
  receivedAtMs: number
  /** Sends the PUBACK (manual-ack QoS 1 only; otherwise a no-op). Idempotent. */
  ack: () => void
  /**
   * True once the connection this message came on has closed: it can no longer be
   * acknowledged, and the broker will deliver it again (persistent session).
   */
  stale: () => boolean
}

export interface Subscription {
  filter: string
  qos: 0 | 1
}

/** TLS material for an `mqtts://` URL: the CA that signed the broker, and a client certificate for mTLS. */
export interface MqttTls {
  ca?: string | Buffer
  cert?: string | Buffer
  key?: string | Buffer
}

export interface MqttOptions {
  url: string
  clientId: string
  username?: string
  password?: string
  tls?: MqttTls
  /** false = resume the persistent session the broker keeps for `clientId`. */
  clean?: boolean
  /** How long the broker keeps the session after a disconnect (MQTT v5 Session Expiry Interval). */
  sessionExpirySeconds?: number
  /** Most unacknowledged QoS 1/2 messages the broker may send us at once (MQTT v5 Receive Maximum). */
  receiveMaximum?: number
  keepaliveSeconds?: number
  /** The last will: published by the broker when the connection is lost without a clean DISCONNECT. */
  will?: { topic: string, payload: string, qos: 0 | 1 | 2, retain: boolean }
  connectTimeoutMs?: number
  reconnectMinMs?: number
  reconnectMaxMs?: number
  manualAck?: boolean
  /**
   * Manual ack: stop reading from the socket while this many messages are unacknowledged
   * (defaults to `receiveMaximum`). The broker's own bound is not enough: Mosquitto 2.0
   * sends a further window of messages for every PUBACK it receives.
   */
  maxUnacked?: number
  /**
   * Manual ack: also stop reading while this says so (e.g. the bytes held downstream are at
   * their bound); reading resumes on a later `ack()` or `resume()` once it says false.
   */
  holdWhile?: () => boolean
  /** Subscribed on every (re)connection, whether or not the broker kept the session. */
  subscriptions?: Subscription[]
  onMessage?: (message: InboundMessage) => void
  onConnect?: (info: { sessionPresent: boolean, reconnect: boolean }) => void
  onDisconnect?: (error: Error | undefined) => void
  onError?: (error: Error) => void
  random?: () => number
  /**
   * A durable store for outgoing QoS 1/2 packets (MQTT.js `outgoingStore`), kept across
   * reconnections; its content is resent at every CONNACK. A PUBLISH it refuses to store is
   * never written, and its publish fails with the store's error.
   */
  outgoingStore?: IStore
}

export interface MqttHandle {
  client: MqttClient
  connected: () => boolean
  /** Resolves on the first successful connection; rejects after `timeoutMs`. */
  waitConnected: (timeoutMs?: number) => Promise<void>
  /** QoS ≥ 1 resolves when the broker acknowledged the message. */
  publish: (topic: string, payload: Buffer | string, options?: { qos?: 0 | 1 | 2, retain?: boolean }) => Promise<void>
  /** Closes the connection; unacknowledged messages stay with the broker. */
  close: (force?: boolean) => Promise<void>
  /** Reads on if reading was held by `holdWhile` and it no longer holds. */
  resume: () => void
  /** Closes the connection with MQTT v5 reason 0x04 (disconnect with will message): the broker publishes the will. */
  closeWithWill: () => Promise<void>
  stats: () => { reconnects: number, staleAcks: number }
}

/**
 * TLS material from files (MQTT_CA_FILE, MQTT_CERT_FILE, MQTT_KEY_FILE), read once at start-up;
 * undefined when no file is named.
 */
export function tlsFromFiles (files: { ca?: string | undefined, cert?: string | undefined, key?: string | undefined }): MqttTls | undefined {
  const tls: MqttTls = {}
  if (files.ca !== undefined) tls.ca = readFileSync(files.ca)
  if (files.cert !== undefined) tls.cert = readFileSync(files.cert)
  if (files.key !== undefined) tls.key = readFileSync(files.key)
  return Object.keys(tls).length === 0 ? undefined : tls
}

/** MQTT.js options for `tls`: the broker's certificate is always verified (against `ca` when given). */
export function tlsOptions (tls: MqttTls | undefined): Pick<IClientOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized'> {
  if (tls === undefined) return {}
  return {
    rejectUnauthorized: true,
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key })
  }
}

/**
 * One shared instance: MQTT.js only tests the error for truthiness here, and building a new
 * Error (with its stack trace) per message cost about a quarter of the connector's CPU.
 */
const ACK_DEFERRED = new Error('acknowledgement deferred')

/** The private MQTT.js method that writes a packet on the current connection. */
type SendPacket = (packet: { cmd: 'puback', messageId: number, reasonCode: number }, cb?: (err?: Error) => void) => void

export function createMqttClient (options: MqttOptions): MqttHandle {
  const random = options.random ?? Math.random
  const properties: NonNullable<IClientOptions['properties']> = {}
  if (options.sessionExpirySeconds !== undefined) properties.sessionExpiryInterval = options.sessionExpirySeconds
  if (options.receiveMaximum !== undefined) properties.receiveMaximum = options.receiveMaximum

  const clientOptions: IClientOptions = {
    protocolVersion: 5,
    clientId: options.clientId,
    clean: options.clean ?? true,
    keepalive: options.keepaliveSeconds ?? 30,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    reconnectPeriod: 0,
    resubscribe: false,
    properties,
    manualConnect: true
  }
  if (options.will !== undefined) clientOptions.will = { ...options.will, payload: Buffer.from(options.will.payload) }
  if (options.username !== undefined) clientOptions.username = options.username
  if (options.password !== undefined) clientOptions.password = options.password
  Object.assign(clientOptions, tlsOptions(options.tls))
  // The store is handed to MQTT.js before the client exists; the guard reaches it later.
  const created: { client?: MqttClient } = {}
  const outgoingStore = options.outgoingStore === undefined ? undefined : guardStore(options.outgoingStore, () => created.client)
  if (outgoingStore !== undefined) clientOptions.outgoingStore = outgoingStore

  const client = connect(options.url, clientOptions)
  created.client = client
  let generation = 0
  let attempts = 0
  let everConnected = false
  let closing = false
  let reconnects = 0
  let staleAcks = 0
  let reconnectTimer: NodeJS.Timeout | undefined
  const waiters: Array<() => void> = []

  const maxUnacked = options.maxUnacked ?? options.receiveMaximum ?? 65535
  let unacked = 0
  let held: (() => void) | undefined
  const holding = (): boolean => unacked >= maxUnacked || (options.holdWhile?.() ?? false)
  const release = (): void => {
    const h = held
    held = undefined
    h?.()
  }

  const deliver = (packet: IPublishPacket, ack: () => void, stale: () => boolean): void => {
    options.onMessage?.({
      topic: packet.topic,
      payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
      qos: packet.qos,
      retain: packet.retain,
      dup: packet.dup,
      receivedAtMs: Date.now(),
      ack,
      stale
    })
  }

  client.handleMessage = (packet, callback) => {
    if (options.manualAck !== true || packet.qos !== 1 || packet.messageId === undefined) {
      deliver(packet, () => {}, () => false)
      callback()
      return
    }
    const messageId = packet.messageId
    // Packets still parsed after the connection closed belong to no live connection.
    const gen = client.connected ? generation : -1
    let acked = false
    unacked++
    deliver(packet, () => {
      if (acked) return
      acked = true
      if (gen !== generation || !client.connected) {
        staleAcks++
        return
      }
      unacked--
      ;(client as unknown as { _sendPacket: SendPacket })._sendPacket({ cmd: 'puback', messageId, reasonCode: 0 })
      if (!holding()) release()
    }, () => gen !== generation)
    // An error tells MQTT.js to skip its PUBACK and go on with the next packet. Holding the
    // callback instead stops MQTT.js reading the socket: TCP backpressure on the broker.
    const next = (): void => { callback(ACK_DEFERRED) }
    if (holding()) held = next
    else next()
  }

  client.on('connect', connack => {
    generation++
    attempts = 0
    const reconnect = everConnected
    if (reconnect) reconnects++
    everConnected = true
    const subs = options.subscriptions ?? []
    if (subs.length > 0) {
      // rh=1: retained messages only for a subscription that did not exist yet, so a
      // resubscription does not replay them as if they were fresh.
      client.subscribe(Object.fromEntries(subs.map(s => [s.filter, { qos: s.qos, rh: 1 as const }])), err => {
        if (err !== null && err !== undefined) options.onError?.(err)
      })
    }
    options.onConnect?.({ sessionPresent: connack.sessionPresent, reconnect })
    for (const w of waiters.splice(0)) w()
  })

  client.on('close', () => {
    generation++
    unacked = 0
    release()
    options.onDisconnect?.(undefined)
    if (closing || reconnectTimer !== undefined) return
    const delay = jitteredDelay(attempts++, options.reconnectMinMs ?? 500, options.reconnectMaxMs ?? 30_000, random)
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined
      // Without a store named again, MQTT.js replaces it by an in-memory one.
      if (!closing) client.reconnect(outgoingStore === undefined ? undefined : { outgoingStore })
    }, delay)
  })

  client.on('error', err => options.onError?.(err))
  client.connect()

  return {
    client,
    connected: () => client.connected,
    waitConnected: (timeoutMs = 10_000) => client.connected
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`MQTT not connected within ${timeoutMs} ms (${options.url})`)), timeoutMs)
        waiters.push(() => { clearTimeout(timer); resolve() })
      }),
    publish: async (topic, payload, publishOptions = {}) => {
      await client.publishAsync(topic, payload, { qos: publishOptions.qos ?? 1, retain: publishOptions.retain ?? false })
    },
    close: async (force = false) => {
      closing = true
      clearTimeout(reconnectTimer)
      await client.endAsync(force)
    },
    resume: () => { if (!holding()) release() },
    closeWithWill: async () => {
      closing = true
      clearTimeout(reconnectTimer)
      await client.endAsync(false, { reasonCode: 4 })
    },
    stats: () => ({ reconnects, staleAcks })
  }
}

/**
 * Passes MQTT.js's store calls on, and fails the publish of a PUBLISH the store refused.
 * MQTT.js 5 does not: `_storeAndSend` hands the store's error to no callback for QoS 1/2, so
 * the publish would wait forever and hold its packet identifier.
 */
function guardStore (store: IStore, client: () => MqttClient | undefined): IStore {
  const refused = (packet: Packet, err: Error): void => {
    const c = client()
    if (c === undefined || packet.cmd !== 'publish' || packet.messageId === undefined) return
    const pending = c.outgoing[packet.messageId]
    if (pending === undefined) return
    delete c.outgoing[packet.messageId]
    c.messageIdProvider.deallocate(packet.messageId)
    pending.cb(err)
  }
  const guarded: IStore = {
    put (packet, cb) {
      store.put(packet, err => {
        if (err !== undefined && err !== null) refused(packet, err)
        cb(err)
      })
      return guarded
    },
    del (packet, cb) { store.del(packet, cb); return guarded },
    get (packet, cb) { store.get(packet, cb); return guarded },
    createStream: () => store.createStream(),
    close: cb => { store.close(cb) }
  }
  return guarded
}
