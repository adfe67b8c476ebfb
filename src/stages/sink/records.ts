import { KAFKA_MESSAGE_MAX_BYTES, RECORD_OVERHEAD_BYTES } from '../../adapters/kafka.ts'
import { encodeDeadLetterWithin } from '../../core/dead-letter.ts'
import { ErrorCodes } from '../../core/errors.ts'
import { parseMeasurement, type Measurement } from '../../core/measurement.ts'
import type { Failure } from '../../core/result.ts'

/**
 * The sink's pure part: Kafka records → validated rows, and dead letters for what can never
 * be written. No I/O.
 */
export interface SinkRecord {
  topic: string
  partition: number
  offset: bigint
  key: Buffer | null
  value: Buffer | null
}

export interface EncodedDeadLetter { reason: Failure['code'], key: Buffer | null, value: Buffer }

export interface ParsedBatch {
  rows: Measurement[]
  /** `sources[i]` is the record `rows[i]` came from. */
  sources: SinkRecord[]
  deadLetters: EncodedDeadLetter[]
}

/** Validates every record with the shared measurement schema; invalid → F2_MEASUREMENT_INVALID. */
export function parseBatch (records: readonly SinkRecord[], nowMs: number, maxRecordBytes = KAFKA_MESSAGE_MAX_BYTES): ParsedBatch {
  const out: ParsedBatch = { rows: [], sources: [], deadLetters: [] }
  for (const r of records) {
    let input: unknown
    try {
      input = JSON.parse(r.value?.toString('utf8') ?? '')
    } catch {
      out.deadLetters.push(sinkDeadLetter(r, { code: ErrorCodes.MEASUREMENT_INVALID, message: 'record is not JSON' }, nowMs, null, maxRecordBytes))
      continue
    }
    const m = parseMeasurement(input)
    if (!m.ok) {
      out.deadLetters.push(sinkDeadLetter(r, m.error, nowMs, null, maxRecordBytes))
      continue
    }
    out.rows.push(m.value)
    out.sources.push(r)
  }
  return out
}

/** A dead letter within the record limit (a larger original keeps a prefix, its size and SHA-256). */
export function sinkDeadLetter (r: SinkRecord, error: Failure, nowMs: number, mqttTopic: string | null = null, maxRecordBytes = KAFKA_MESSAGE_MAX_BYTES): EncodedDeadLetter {
  const value = encodeDeadLetterWithin({
    error,
    stage: 'sink',
    failedAtMs: nowMs,
    source: { topic: r.topic, partition: r.partition, offset: r.offset.toString() },
    mqttTopic,
    originalKey: r.key,
    originalValue: r.value ?? Buffer.alloc(0)
  }, maxRecordBytes - RECORD_OVERHEAD_BYTES - 2 * (r.key?.length ?? 0) - 64)
  return { reason: error.code, key: r.key, value }
}
