import { decodeMessage, needsSensor, type TimestampWindow } from '../../core/decode.ts'
import { RECORD_OVERHEAD_BYTES, KAFKA_MESSAGE_MAX_BYTES } from '../../adapters/kafka.ts'
import { deadLetterMessageKey, encodeDeadLetterWithin } from '../../core/dead-letter.ts'
import { decodeEnvelope, payloadBytes, type RawEnvelope } from '../../core/envelope.ts'
import { ErrorCodes } from '../../core/errors.ts'
import type { Measurement } from '../../core/measurement.ts'
import type { Failure, Result } from '../../core/result.ts'
import type { SensorDefinition } from '../../core/sensor.ts'
import { presenceOf, type Presence } from '../../core/presence.ts'
import { parsePresenceTopic, parseTopic, type F2Topic } from '../../core/topic.ts'

/**
 * The processor's pure part: one raw record in, measurements and dead letters out.
 * No I/O: sensor definitions are looked up by the caller between `prepare` and `finish`,
 * once per distinct (controller, connector, pin) of a batch.
 */

/** A record as read from Kafka, with where it came from. */
export interface SourceRecord {
  topic: string
  partition: number
  offset: bigint
  key: Buffer | null
  value: Buffer | null
}

export type Prepared =
  | { record: SourceRecord, ok: true, envelope: RawEnvelope, topic: F2Topic, sensorKey: string | null }
  | { record: SourceRecord, ok: false, envelope: RawEnvelope | null, failure: Failure }
  /** A controller's presence message (`tele/f2-<mac>/LWT`): no reading, nothing to produce. */
  | { record: SourceRecord, ok: 'presence', envelope: RawEnvelope, presence: Presence }

/** What the caller must look up for a sensor reading. */
export interface SensorLookup { mac: string, connector: number, pin: number }

export interface Output {
  measurements: Measurement[]
  /** Encoded dead-letter records with their reason. */
  deadLetters: Array<{ reason: Failure['code'], key: Buffer | null, value: Buffer }>
}

/** What every output must respect: the topics' record limit, and the device-time window. */
export interface OutputLimits {
  /** Largest record (key, value, headers, framing) the output topics accept. */
  maxRecordBytes: number
  window?: TimestampWindow
}

const NO_LIMITS: OutputLimits = { maxRecordBytes: KAFKA_MESSAGE_MAX_BYTES }

export function sensorKey (t: SensorLookup): string {
  return `${t.mac}/${t.connector}/${t.pin}`
}

export function parseSensorKey (key: string): SensorLookup {
  const [mac = '', connector = '0', pin = '0'] = key.split('/')
  return { mac, connector: Number(connector), pin: Number(pin) }
}

/** Decodes the envelope and the topic; says which sensor definition (if any) is needed. */
export function prepare (record: SourceRecord): Prepared {
  if (record.value === null || record.value.length === 0) {
    return { record, ok: false, envelope: null, failure: { code: ErrorCodes.ENVELOPE_INVALID, message: 'record has no value' } }
  }
  const env = decodeEnvelope(record.value)
  if (!env.ok) return { record, ok: false, envelope: null, failure: env.error }
  if (parsePresenceTopic(env.value.original_topic) !== null) {
    const presence = presenceOf(env.value)
    if (!presence.ok) return { record, ok: false, envelope: env.value, failure: presence.error }
    return { record, ok: 'presence', envelope: env.value, presence: presence.value }
  }
  const topic = parseTopic(env.value.original_topic)
  if (!topic.ok) return { record, ok: false, envelope: env.value, failure: topic.error }
  const t = topic.value
  const key = needsSensor(t) ? sensorKey({ mac: t.mac, connector: t.connector, pin: t.position ?? -1 }) : null
  return { record, ok: true, envelope: env.value, topic: t, sensorKey: key }
}

/**
 * Turns a prepared record into outputs. Every record but a presence message (which carries no
 * reading; only its activity record is written, see records.ts) yields at least one output:
 * measurements, a dead letter, or both (a sensor frame whose points partly failed: the good
 * points are produced, the failed ones listed in one dead letter). Measurements are validated with the
 * shared schema (inside decodeMessage) before they leave.
 */
export function finish (p: Prepared, sensors: ReadonlyMap<string, Result<SensorDefinition>>, zone: string, nowMs: number, limits: OutputLimits = NO_LIMITS): Output {
  const out: Output = { measurements: [], deadLetters: [] }
  if (p.ok === 'presence') return out
  if (!p.ok) {
    out.deadLetters.push(deadLetter(p.record, p.envelope, p.failure, nowMs, limits))
    return out
  }
  let sensor: SensorDefinition | null = null
  if (p.sensorKey !== null) {
    const found = sensors.get(p.sensorKey)
    if (found === undefined) throw new Error(`sensor ${p.sensorKey} was not looked up`)
    if (!found.ok) {
      out.deadLetters.push(deadLetter(p.record, p.envelope, found.error, nowMs, limits))
      return out
    }
    sensor = found.value
  }
  // decodeMessage builds every measurement through parseMeasurement (the shared schema).
  const decoded = decodeMessage(limits.window === undefined
    ? { envelope: p.envelope, topic: p.topic, sensor, zone }
    : { envelope: p.envelope, topic: p.topic, sensor, zone, window: limits.window })
  const failures = decoded.failures
  out.measurements = decoded.measurements
  const first = failures[0]
  if (first !== undefined) {
    const failure: Failure = failures.length === 1
      ? first
      : { code: first.code, message: `${failures.length} failures: ${failures.map(f => f.code).join(', ')}`, details: { failures } }
    out.deadLetters.push(deadLetter(p.record, p.envelope, failure, nowMs, limits))
  } else if (out.measurements.length === 0) {
    out.deadLetters.push(deadLetter(p.record, p.envelope, { code: ErrorCodes.PAYLOAD_INVALID, message: 'the message carries no measurement' }, nowMs, limits))
  }
  return out
}

/**
 * The dead letter of a message one of whose measurements encodes to `bytes`, above the
 * output topic's record limit: the measurement is not produced (the rest of the message is).
 */
export function oversizeDeadLetter (p: Prepared, label: string, bytes: number, nowMs: number, limits: OutputLimits): Output['deadLetters'][number] {
  return deadLetter(p.record, p.envelope, {
    code: ErrorCodes.RECORD_TOO_LARGE,
    message: `measurement '${label.slice(0, 100)}' encodes to ${bytes} bytes, above the record limit of ${limits.maxRecordBytes}`,
    details: { label: label.slice(0, 100), record_bytes: bytes, limit: limits.maxRecordBytes }
  }, nowMs, limits)
}

/** The dead letter of a message whose output record the broker refused (`error`). */
export function rejectedDeadLetter (p: Prepared, error: string, nowMs: number, limits: OutputLimits): Output['deadLetters'][number] {
  return deadLetter(p.record, p.envelope, { code: ErrorCodes.RECORD_REJECTED, message: `Kafka refused an output record: ${error.slice(0, 500)}` }, nowMs, limits)
}

/**
 * The dead letter's message key from the envelope's payload. JSON.stringify recurses, so a
 * payload nested deeper than the stack (JSON.parse took it) throws: such a dead letter keeps
 * the default key, the digest of the record.
 */
function messageKeyOf (envelope: RawEnvelope): { messageKey?: string } {
  try {
    return { messageKey: deadLetterMessageKey(envelope.original_topic, payloadBytes(envelope)) }
  } catch {
    return {}
  }
}

/** Dead letters stay within the record limit: a larger original keeps a prefix, its size and SHA-256. */
function deadLetter (record: SourceRecord, envelope: RawEnvelope | null, failure: Failure, nowMs: number, limits: OutputLimits): Output['deadLetters'][number] {
  const keyBytes = record.key?.length ?? 0
  const value = encodeDeadLetterWithin({
    error: failure,
    stage: 'processor',
    failedAtMs: nowMs,
    source: { topic: record.topic, partition: record.partition, offset: record.offset.toString() },
    mqttTopic: envelope?.original_topic ?? null,
    originalKey: record.key,
    originalValue: record.value ?? Buffer.alloc(0),
    // The device's message, not this record: a redelivered copy (another receive time) keeps the key.
    ...(envelope === null ? {} : messageKeyOf(envelope))
  }, limits.maxRecordBytes - RECORD_OVERHEAD_BYTES - 2 * keyBytes - 64)
  return { reason: failure.code, key: record.key, value }
}
