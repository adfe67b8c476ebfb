import { backoffDelay, type KafkaRecord } from '../../adapters/kafka.ts'

/** One received message on its way to Kafka; `ack` releases it at the MQTT broker. */
export interface Pending {
  record: KafkaRecord
  ack: () => void
  /** True when the message can no longer be acknowledged and the broker will redeliver it. */
  stale: () => boolean
  /** Set when the record is a dead letter (its reason code), null for a forwarded message. */
  deadLetterReason: string | null
}

export interface ForwarderOptions {
  /** Resolves only when Kafka acknowledged every record (acks=all); rejects otherwise. */
  send: (records: KafkaRecord[]) => Promise<void>
  batchSize: number
  /** Upper bound on the summed value sizes of one produce call (below Kafka's max request size). */
  batchBytes: number
  lingerMs: number
  retryMinMs: number
  retryMaxMs: number
  onSent?: (batch: Pending[], latencySeconds: number) => void
  onSendError?: (error: unknown, attempt: number) => void
  /** Messages dropped before sending because their connection closed (the broker redelivers them). */
  onStale?: (count: number) => void
}

export interface Forwarder {
  push: (item: Pending) => void
  /** Messages received and not yet acknowledged. */
  pending: () => number
  /** Resolves true once everything pushed so far is acknowledged, false at the deadline. */
  drain: (deadlineMs: number) => Promise<boolean>
  /** Stops retrying; whatever is unacknowledged stays with the broker for redelivery. */
  stop: () => void
}

/**
 * Batches messages into produce calls and acknowledges each message to MQTT only after the
 * call that carried it was acknowledged by Kafka. One produce call is in flight at a time and
 * a failed call is retried (with backoff and jitter) before any later message is sent, so
 * the order of one device's messages is the order they arrived in. Nothing is ever dropped:
 * while Kafka is down the queue stops draining, MQTT acknowledgements stop, and the broker's
 * Receive Maximum stops the flow — the backlog stays in the broker's persistent session.
 */
export function createForwarder (options: ForwarderOptions): Forwarder {
  const queue: Pending[] = []
  let inProduce = 0
  let running = false
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let idleWaiters: Array<() => void> = []

  const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

  const takeBatch = (): Pending[] => {
    // Not yet sent and no longer acknowledgeable: the broker delivers these again, so sending
    // them now would only add a duplicate.
    const before = queue.length
    const live = queue.filter(p => !p.stale())
    if (live.length !== before) {
      queue.length = 0
      queue.push(...live)
      options.onStale?.(before - live.length)
    }
    let bytes = 0
    let n = 0
    while (n < queue.length && n < options.batchSize) {
      const size = (queue[n] as Pending).record.value?.length ?? 0
      if (n > 0 && bytes + size > options.batchBytes) break
      bytes += size
      n++
    }
    return queue.splice(0, n)
  }

  const loop = async (): Promise<void> => {
    while (queue.length > 0 && !stopped) {
      const batch = takeBatch()
      inProduce = batch.length
      const records = batch.map(p => p.record)
      for (let attempt = 0; ; attempt++) {
        const started = performance.now()
        try {
          await options.send(records)
          options.onSent?.(batch, (performance.now() - started) / 1000)
          break
        } catch (err) {
          options.onSendError?.(err, attempt)
          if (stopped) return
          await sleep(backoffDelay(attempt, options.retryMinMs, options.retryMaxMs))
          if (stopped) return
        }
      }
      for (const p of batch) p.ack()
      inProduce = 0
    }
    running = false
    if (queue.length === 0) {
      const waiters = idleWaiters
      idleWaiters = []
      for (const w of waiters) w()
    }
  }

  const kick = (): void => {
    clearTimeout(timer)
    timer = undefined
    if (running || stopped) return
    running = true
    void loop()
  }

  return {
    push (item) {
      queue.push(item)
      if (running) return
      if (queue.length >= options.batchSize || options.lingerMs === 0) kick()
      else timer ??= setTimeout(kick, options.lingerMs)
    },
    pending: () => queue.length + inProduce,
    drain (deadlineMs) {
      if (queue.length === 0 && !running) return Promise.resolve(true)
      kick()
      return new Promise<boolean>(resolve => {
        const t = setTimeout(() => resolve(false), deadlineMs)
        idleWaiters.push(() => { clearTimeout(t); resolve(true) })
      })
    },
    stop () {
      stopped = true
      clearTimeout(timer)
    }
  }
}
