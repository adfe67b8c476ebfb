import { decodeDeadLetter, type DeadLetter } from '../../core/dead-letter.ts'
import { decodeEnvelope } from '../../core/envelope.ts'
import { isCanonicalInstant } from '../../core/iso-instant.ts'
import { parseMeasurement, type Measurement } from '../../core/measurement.ts'
import { presenceOf, type Presence } from '../../core/presence.ts'
import { CONNECTOR_MODES, extractMac, normalizeMac, parsePresenceTopic } from '../../core/topic.ts'
import type { LastValue } from './state.ts'

/**
 * The fleet stage's pure part on the input side: a Kafka record of one of its three topics →
 * what the state needs from it, or null when the record names no controller (counted by the
 * caller, never fatal: the processor has already dead-lettered what it could not read).
 */

export interface Seen {
  mac: string
  /** Connector receipt time, ISO UTC as the connector wrote it, and in ms. */
  receivedAt: string
  receivedAtMs: number
  mode: string | null
  /** Set for a presence message (tele/f2-<mac>/LWT); live only (a retained copy is null). */
  presence: Presence | null
  /** Replayed by the broker from its retained store (not a message the device just sent). */
  retained: boolean
}

const MODES: ReadonlySet<string> = new Set(CONNECTOR_MODES)

const ENVELOPE_START = Buffer.from('{"schema_version":1,"original_topic":"')
const TIMESTAMP_FIELD = Buffer.from(',"timestamp":"')
const RETAIN_TRUE = Buffer.from(',"retain":true')
const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * The envelope the connector writes (`JSON.stringify` of buildEnvelope's object, whose field
 * order is fixed: schema_version, original_topic, device_id, payload, payload_encoding,
 * timestamp, qos, retain, message_id) read without parsing its payload: the topic is the
 * first string, and the envelope's own `"timestamp"` is the last one (a key inside the payload
 * comes before it; inside a string value its quotes would be escaped). Undefined for anything
 * else (a seed envelope, an escaped topic, a presence message), which readRaw then decodes in
 * full. test/stages/fleet/records.unit.test.ts compares both paths.
 */
export function fastRaw (value: Buffer): Seen | null | undefined {
  if (value.length < ENVELOPE_START.length || value.compare(ENVELOPE_START, 0, ENVELOPE_START.length, 0, ENVELOPE_START.length) !== 0) return undefined
  const topicStart = ENVELOPE_START.length
  const topicEnd = value.indexOf(QUOTE, topicStart)
  if (topicEnd < 0) return undefined
  const backslash = value.indexOf(BACKSLASH, topicStart)
  if (backslash >= 0 && backslash < topicEnd) return undefined
  const at = value.lastIndexOf(TIMESTAMP_FIELD)
  if (at < topicEnd) return undefined
  const tsStart = at + TIMESTAMP_FIELD.length
  if (value[tsStart + 27] !== QUOTE) return undefined
  const receivedAt = value.toString('latin1', tsStart, tsStart + 27)
  if (!isCanonicalInstant(receivedAt)) return undefined
  const topic = value.toString('utf8', topicStart, topicEnd)
  if (parsePresenceTopic(topic) !== null) return undefined
  const mac = extractMac(topic)
  if (mac === null) return null
  const level = topic.split('/', 3)[2]
  return {
    mac,
    receivedAt,
    receivedAtMs: Date.parse(receivedAt),
    mode: level !== undefined && MODES.has(level) ? level : null,
    presence: null,
    retained: value.lastIndexOf(RETAIN_TRUE) > at
  }
}

/** A `raw_iot_data` record: who sent it, when it arrived, in which mode. */
export function readRaw (value: Buffer | null | undefined): Seen | null {
  if (value === null || value === undefined || value.length === 0) return null
  const fast = fastRaw(value)
  if (fast !== undefined) return fast
  const env = decodeEnvelope(value)
  if (!env.ok) return null
  const e = env.value
  const presenceMac = parsePresenceTopic(e.original_topic)
  const mac = presenceMac ?? (e.device_id === null ? null : normalizeMac(e.device_id)) ?? extractMac(e.original_topic)
  if (mac === null) return null
  const receivedAtMs = Date.parse(e.timestamp)
  if (!Number.isFinite(receivedAtMs)) return null
  const level = e.original_topic.split('/', 3)[2]
  let presence: Presence | null = null
  if (presenceMac !== null) {
    const p = presenceOf(e)
    presence = p.ok ? p.value : null
  }
  return { mac, receivedAt: e.timestamp, receivedAtMs, mode: level !== undefined && MODES.has(level) ? level : null, presence, retained: e.retain }
}

/**
 * A measurement as the processor writes it (already validated there with the shared schema):
 * the fields the state keeps, with their types, and a canonical device time (so that times
 * compare as strings). Anything else goes through parseMeasurement.
 */
function isCanonical (o: unknown): o is Measurement {
  if (typeof o !== 'object' || o === null) return false
  const m = o as Record<string, unknown>
  return typeof m.device_id === 'string' && typeof m.timestamp === 'string' && isCanonicalInstant(m.timestamp) &&
    typeof m.connector_mode === 'string' && typeof m.datapoint_label === 'string' && typeof m.pin_position === 'string' &&
    typeof m.unit === 'string' && (m.value === null || (typeof m.value === 'number' && Number.isFinite(m.value))) &&
    (m.value_text === null || typeof m.value_text === 'string') && (m.connector === null || Number.isInteger(m.connector))
}

/** A `decoded_iot_data` record: its controller and the reading as a last value. */
export function readDecoded (value: Buffer | null | undefined): { mac: string, value: LastValue } | null {
  if (value === null || value === undefined) return null
  let input: unknown
  try {
    input = JSON.parse(value.toString('utf8'))
  } catch {
    return null
  }
  let r: Measurement
  if (isCanonical(input)) r = input
  else {
    const m = parseMeasurement(input)
    if (!m.ok) return null
    r = m.value
  }
  const mac = normalizeMac(r.device_id)
  if (mac === null) return null
  return {
    mac,
    value: {
      connector: r.connector,
      connector_mode: r.connector_mode,
      datapoint_label: r.datapoint_label,
      pin_position: r.pin_position,
      value: r.value,
      value_text: r.value_text,
      unit: r.unit,
      timestamp: r.timestamp
    }
  }
}

/** A `dead_letters` row (sql/timeseries/005_fleet_state.sql). */
export interface DeadLetterRow {
  partition: number
  offset: string
  failed_at: string
  reason: string
  stage: string
  device_id: string | null
  mqtt_topic: string | null
  message: string
  /** Null for records written before dead letters carried one (no deduplication then). */
  message_key: string | null
  record: DeadLetter
}

/** An `iot_dead_letter` record at (`partition`, `offset`): its row, attributed by its MQTT topic. */
export function readDeadLetter (value: Buffer | null | undefined, partition: number, offset: bigint): DeadLetterRow | null {
  if (value === null || value === undefined) return null
  const dl = decodeDeadLetter(value)
  if (!dl.ok) return null
  const d = dl.value
  if (!Number.isFinite(Date.parse(d.failed_at))) return null
  return {
    partition,
    offset: offset.toString(),
    failed_at: d.failed_at,
    reason: d.reason,
    stage: d.stage,
    device_id: d.mqtt_topic === null ? null : (parsePresenceTopic(d.mqtt_topic) ?? extractMac(d.mqtt_topic)),
    mqtt_topic: d.mqtt_topic,
    message: d.message,
    message_key: d.message_key ?? null,
    record: d
  }
}
