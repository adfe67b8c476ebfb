import { compatibilityPartitioner, Producer, type MessageToProduce, type ProduceResult } from '@platformatic/kafka'
import { ErrorCodes, F2Error } from '../core/errors.ts'

/**
 * Thin wrappers over @platformatic/kafka shared by the stages. Keys, values and header
 * values are Buffers end to end: serialising is the caller's concern, so what a stage
 * hands over is exactly what lands in the log.
 */

export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd'
export const COMPRESSIONS: readonly [Compression, ...Compression[]] = ['none', 'gzip', 'snappy', 'lz4', 'zstd']

export type KafkaRecord = MessageToProduce<Buffer, Buffer, string, Buffer>

/**
 * The broker's `message.max.bytes`, the largest record batch it accepts (Kafka's default,
 * set explicitly): rendered into templates/kafka/server.properties, mirrored in
 * docker-compose.yml (a test keeps them equal), and the default record limit of every stage.
 */
export const KAFKA_MESSAGE_MAX_BYTES = 1_048_588
/** Room for the record batch header (61 bytes), the record's own framing and a `reason` header. */
export const RECORD_OVERHEAD_BYTES = 256

/** What `record` occupies in a record batch (an upper bound): key, value, headers and framing. */
export function recordBytes (record: KafkaRecord): number {
  let n = (record.key?.length ?? 0) + (record.value?.length ?? 0) + RECORD_OVERHEAD_BYTES
  if (record.headers !== undefined) {
    for (const [name, v] of Object.entries(record.headers as Record<string, Buffer>)) n += name.length + v.length
  }
  return n
}

/** Broker answers that refuse a record itself: sending it again cannot succeed. */
const RECORD_REJECTIONS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD'])

/**
 * True when a produce failed because the broker refused a record of it (too large, invalid):
 * not retryable. The client nests protocol errors in aggregates and causes; all are searched.
 */
export function isRecordRejection (err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 8) return false
  const e = err as { apiId?: unknown, errors?: unknown, cause?: unknown }
  if (typeof e.apiId === 'string' && RECORD_REJECTIONS.has(e.apiId)) return true
  if (Array.isArray(e.errors) && e.errors.some(inner => isRecordRejection(inner, depth + 1))) return true
  return isRecordRejection(e.cause, depth + 1)
}
export type KafkaProducer = Producer<Buffer, Buffer, string, Buffer>

export interface ProducerOptions {
  clientId: string
  bootstrapBrokers: readonly string[]
  compression?: Compression
  /** Per-request timeout (ms); a produce that takes longer fails and is retried by the caller. */
  requestTimeoutMs?: number
  /** Retries inside the client for one `send` before it rejects. */
  retries?: number
  retryDelayMs?: number
  /**
   * Makes the producer transactional under this id (stable per instance). The producer asks
   * for a fresh id/epoch (producerId -1, epoch -1): the coordinator bumps the epoch of whoever
   * held the id before (a killed predecessor), fencing it and aborting its open transaction.
   * The request timeout is then also the transaction timeout the coordinator applies.
   */
  transactionalId?: string
}

/**
 * An idempotent producer with acks=all (-1): a record is acknowledged only when every
 * in-sync replica holds it, and broker-side de-duplication keeps client retries from
 * writing it twice. Keys go through the Java-compatible murmur2 partitioner, so every
 * client maps one key (one controller) to the same partition.
 */
export function createProducer (options: ProducerOptions): KafkaProducer {
  const transactional = options.transactionalId === undefined
    ? {}
    // The client's default (id 0, epoch 0) is refused with PRODUCER_FENCED once the id has history.
    : { transactionalId: options.transactionalId, producerId: -1n, producerEpoch: -1 }
  return new Producer<Buffer, Buffer, string, Buffer>({
    clientId: options.clientId,
    bootstrapBrokers: [...options.bootstrapBrokers],
    ...transactional,
    idempotent: true,
    acks: -1,
    compression: options.compression ?? 'none',
    partitioner: compatibilityPartitioner,
    timeout: options.requestTimeoutMs ?? 5000,
    retries: options.retries ?? 1,
    retryDelay: options.retryDelayMs ?? 250,
    autocreateTopics: false,
    serializers: {
      headerKey: (key?: string) => key === undefined ? undefined : Buffer.from(key, 'utf8')
    }
  })
}

/** One record for `topic`; a string key is UTF-8 encoded, header values likewise. */
export function buildRecord (topic: string, key: string | Buffer | null, value: Buffer, headers?: Record<string, string | Buffer>): KafkaRecord {
  const record: KafkaRecord = { topic, value }
  if (key !== null) record.key = typeof key === 'string' ? Buffer.from(key, 'utf8') : key
  if (headers !== undefined) {
    const out: Record<string, Buffer> = {}
    for (const [name, v] of Object.entries(headers)) out[name] = typeof v === 'string' ? Buffer.from(v, 'utf8') : v
    record.headers = out
  }
  return record
}

/**
 * After a produce of `records` was refused because of a record in it (isRecordRejection),
 * finds the refused records by sending halves, recursively, through `trySend` (which may
 * send for real, or probe inside a transaction it then aborts). Resolves with every refused
 * record and its error; rejects with any other error (the caller retries as usual).
 */
export async function findRefused<R> (records: R[], trySend: (part: R[]) => Promise<void>): Promise<Array<{ record: R, error: unknown }>> {
  const refused: Array<{ record: R, error: unknown }> = []
  const halves = async (part: R[]): Promise<void> => {
    const half = Math.ceil(part.length / 2)
    for (const piece of [part.slice(0, half), part.slice(half)]) {
      if (piece.length === 0) continue
      try {
        await trySend(piece)
      } catch (err) {
        if (!isRecordRejection(err)) throw err
        if (piece.length === 1) refused.push({ record: piece[0] as R, error: err })
        else await halves(piece)
      }
    }
  }
  if (records.length === 1) {
    try { await trySend(records) } catch (err) {
      if (!isRecordRejection(err)) throw err
      refused.push({ record: records[0] as R, error: err })
    }
  } else {
    await halves(records)
  }
  return refused
}

/**
 * Sends `records` in one call and resolves when Kafka acknowledged all of them (acks=all).
 * Rejects with F2_KAFKA_PRODUCE_FAILED otherwise; nothing is known to be written then, and an
 * idempotent retry will not duplicate what was. `retryable` is false when the broker refused
 * a record itself (see isRecordRejection): the caller must isolate and dead-letter it.
 */
export async function produce (producer: KafkaProducer, records: KafkaRecord[]): Promise<ProduceResult> {
  try {
    return await producer.send({ messages: records })
  } catch (err) {
    throw new F2Error(ErrorCodes.KAFKA_PRODUCE_FAILED, `produce of ${records.length} record(s) failed: ${(err as Error).message}`, { cause: err, retryable: !isRecordRejection(err) })
  }
}

/**
 * True when the cluster answers a metadata request (for `topics` when given, which must
 * then all exist) within `timeoutMs`. Used by `/readyz`; never throws.
 */
export async function kafkaTopicsReady (client: { metadata: Producer['metadata'] }, topics: string[] = [], timeoutMs = 3000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  try {
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error('metadata timeout')), timeoutMs)
    })
    const metadata = await Promise.race([client.metadata({ topics, forceUpdate: true, autocreateTopics: false }), timeout])
    return topics.every(t => metadata.topics.has(t))
  } catch {
    return false
  } finally {
    clearTimeout(timer)
  }
}
