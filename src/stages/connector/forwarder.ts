import { jitteredDelay } from '../../adapters/backoff.ts'
import { isRecordRejection, type KafkaRecord } from '../../adapters/kafka.ts'

/** One received message on its way to Kafka; `ack` releases it at the MQTT broker. */
export interface Pending {
  record: KafkaRecord
  ack: () => void
  /** True when the message can no longer be acknowledged and the broker will redeliver it. */
  stale: () => boolean
  /** Set when the record is a dead letter (its reason code), null for a forwarded message. */
  deadLetterReason: string | null
  /** Memory the message holds until it is acknowledged (payload and record); 0 when unknown. */
  bytes?: number
  /**
   * The dead letter that replaces `record` when the broker refuses it (not retryable), with
   * its reason code; absent for a record that is already a dead letter.
   */
  rejected?: (error: unknown) => { record: KafkaRecord, reason: string }
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
  /** A record refused by the broker was replaced by its dead letter (`reason`). */
  onRejected?: (reason: string, error: unknown) => void
  /** A dead letter refused by the broker: acknowledged and given up (counted, logged). */
  onDropped?: (item: Pending, error: unknown) => void
}

export interface Forwarder {
  push: (item: Pending) => void
  /** Messages received and not yet acknowledged. */
  pending: () => number
  /** Bytes held by the messages received and not yet acknowledged (see Pending.bytes). */
  pendingBytes: () => number
  /** Seconds since the batch in hand was first sent, while Kafka has not acknowledged it (0 when idle). */
  blockedSeconds: () => number
  /** Resolves true once everything pushed so far is acknowledged, false at the deadline. */
  drain: (deadlineMs: number) => Promise<boolean>
  /** Stops retrying; whatever is unacknowledged stays with the broker for redelivery. */
  stop: () => void
}

/**
 * Batches messages into produce calls and acknowledges each message to MQTT only after the
 * call that carried it was acknowledged by Kafka. One produce call is in flight at a time and
 * a failed call is retried (with growing backoff and jitter) before any later message is
 * sent, so the order of one device's messages is the order they arrived in. While Kafka is
 * down the queue stops draining, MQTT acknowledgements stop, and the broker's Receive
 * Maximum stops the flow — the backlog stays in the broker's persistent session.
 *
 * A call the broker refuses because of a record in it (too large, invalid) is not retried as
 * it is: the batch is split in halves, each sent on its own, until the refused record stands
 * alone; that record is then replaced by its dead letter (`Pending.rejected`), so one record
 * never blocks the ones behind it. A refused dead letter is acknowledged and reported
 * (`onDropped`): nothing is dropped silently, and nothing blocks.
 */
export function createForwarder (options: ForwarderOptions): Forwarder {
  const queue: Pending[] = []
  /** Halves of a refused batch, sent before anything else in the queue. */
  const split: Pending[][] = []
  let inProduce = 0
  let bytes = 0
  let running = false
  let stopped = false
  let sendingSince: number | undefined
  let timer: NodeJS.Timeout | undefined
  let idleWaiters: Array<() => void> = []

  const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
  const release = (p: Pending): void => {
    bytes -= p.bytes ?? 0
    p.ack()
  }

  const takeBatch = (): Pending[] => {
    const halves = split.shift()
    if (halves !== undefined) return halves
    // Not yet sent and no longer acknowledgeable: the broker delivers these again, so sending
    // them now would only add a duplicate.
    const before = queue.length
    const live = queue.filter(p => !p.stale())
    if (live.length !== before) {
      for (const p of queue) if (p.stale()) bytes -= p.bytes ?? 0
      queue.length = 0
      queue.push(...live)
      options.onStale?.(before - live.length)
    }
    let batchBytes = 0
    let n = 0
    while (n < queue.length && n < options.batchSize) {
      const size = (queue[n] as Pending).record.value?.length ?? 0
      if (n > 0 && batchBytes + size > options.batchBytes) break
      batchBytes += size
      n++
    }
    return queue.splice(0, n)
  }

  /** Sends one batch until it is acknowledged; false when stopped first. */
  const sendBatch = async (batch: Pending[]): Promise<boolean> => {
    // A produce that hangs is as stuck as one that fails: the clock starts at the first attempt.
    sendingSince ??= performance.now()
    for (let attempt = 0; ; attempt++) {
      const started = performance.now()
      try {
        await options.send(batch.map(p => p.record))
        options.onSent?.(batch, (performance.now() - started) / 1000)
        sendingSince = undefined
        for (const p of batch) release(p)
        return true
      } catch (err) {
        if (isRecordRejection(err)) {
          if (batch.length > 1) {
            const half = Math.ceil(batch.length / 2)
            split.unshift(batch.slice(0, half), batch.slice(half))
            return true
          }
          const only = batch[0] as Pending
          if (only.rejected === undefined) {
            options.onDropped?.(only, err)
            release(only)
            return true
          }
          const replacement = only.rejected(err)
          options.onRejected?.(replacement.reason, err)
          only.record = replacement.record
          only.deadLetterReason = replacement.reason
          delete only.rejected
          attempt = -1
          continue
        }
        options.onSendError?.(err, attempt)
        if (stopped) { sendingSince = undefined; return false }
        await sleep(jitteredDelay(attempt, options.retryMinMs, options.retryMaxMs))
        if (stopped) { sendingSince = undefined; return false }
      }
    }
  }

  const loop = async (): Promise<void> => {
    while ((queue.length > 0 || split.length > 0) && !stopped) {
      const batch = takeBatch()
      inProduce += batch.length
      const done = await sendBatch(batch)
      inProduce -= batch.length
      if (!done) return
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
      bytes += item.bytes ?? 0
      if (running) return
      if (queue.length >= options.batchSize || options.lingerMs === 0) kick()
      else timer ??= setTimeout(kick, options.lingerMs)
    },
    pending: () => queue.length + inProduce + split.reduce((n, b) => n + b.length, 0),
    pendingBytes: () => bytes,
    blockedSeconds: () => sendingSince === undefined ? 0 : (performance.now() - sendingSince) / 1000,
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
