import { decodeMessage, needsSensor } from '../../core/decode.ts'
import { buildDeadLetter, encodeDeadLetter } from '../../core/dead-letter.ts'
import { decodeEnvelope, type RawEnvelope } from '../../core/envelope.ts'
import { ErrorCodes } from '../../core/errors.ts'
import type { Measurement } from '../../core/measurement.ts'
import type { Failure, Result } from '../../core/result.ts'
import type { SensorDefinition } from '../../core/sensor.ts'
import { parseTopic, type F2Topic } from '../../core/topic.ts'

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

/** What the caller must look up for a sensor reading. */
export interface SensorLookup { mac: string, connector: number, pin: number }

export interface Output {
  measurements: Measurement[]
  /** Encoded dead-letter records with their reason. */
  deadLetters: Array<{ reason: Failure['code'], key: Buffer | null, value: Buffer }>
}

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
  const topic = parseTopic(env.value.original_topic)
  if (!topic.ok) return { record, ok: false, envelope: env.value, failure: topic.error }
  const t = topic.value
  const key = needsSensor(t) ? sensorKey({ mac: t.mac, connector: t.connector, pin: t.position ?? -1 }) : null
  return { record, ok: true, envelope: env.value, topic: t, sensorKey: key }
}

/**
 * Turns a prepared record into outputs. Every record yields at least one output: measurements,
 * a dead letter, or both (a sensor frame whose points partly failed: the good points are
 * produced, the failed ones listed in one dead letter). Measurements are validated with the
 * shared schema (inside decodeMessage) before they leave.
 */
export function finish (p: Prepared, sensors: ReadonlyMap<string, Result<SensorDefinition>>, zone: string, nowMs: number): Output {
  const out: Output = { measurements: [], deadLetters: [] }
  if (!p.ok) {
    out.deadLetters.push(deadLetter(p.record, p.envelope, p.failure, nowMs))
    return out
  }
  let sensor: SensorDefinition | null = null
  if (p.sensorKey !== null) {
    const found = sensors.get(p.sensorKey)
    if (found === undefined) throw new Error(`sensor ${p.sensorKey} was not looked up`)
    if (!found.ok) {
      out.deadLetters.push(deadLetter(p.record, p.envelope, found.error, nowMs))
      return out
    }
    sensor = found.value
  }
  // decodeMessage builds every measurement through parseMeasurement (the shared schema).
  const decoded = decodeMessage({ envelope: p.envelope, topic: p.topic, sensor, zone })
  const failures = decoded.failures
  out.measurements = decoded.measurements
  const first = failures[0]
  if (first !== undefined) {
    const failure: Failure = failures.length === 1
      ? first
      : { code: first.code, message: `${failures.length} failures: ${failures.map(f => f.code).join(', ')}`, details: { failures } }
    out.deadLetters.push(deadLetter(p.record, p.envelope, failure, nowMs))
  } else if (out.measurements.length === 0) {
    out.deadLetters.push(deadLetter(p.record, p.envelope, { code: ErrorCodes.PAYLOAD_INVALID, message: 'the message carries no measurement' }, nowMs))
  }
  return out
}

function deadLetter (record: SourceRecord, envelope: RawEnvelope | null, failure: Failure, nowMs: number): Output['deadLetters'][number] {
  const dl = buildDeadLetter({
    error: failure,
    stage: 'processor',
    failedAtMs: nowMs,
    source: { topic: record.topic, partition: record.partition, offset: record.offset.toString() },
    mqttTopic: envelope?.original_topic ?? null,
    originalKey: record.key,
    originalValue: record.value ?? Buffer.alloc(0)
  })
  return { reason: failure.code, key: record.key, value: encodeDeadLetter(dl) }
}
