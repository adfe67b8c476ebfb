import type { RawEnvelope } from './envelope.ts'
import { isCanonicalInstant } from './iso-instant.ts'
import type { Measurement } from './measurement.ts'
import type { Presence } from './presence.ts'
import { CONNECTOR_MODES, extractMac, normalizeMac, parsePresenceTopic } from './topic.ts'

/** What the fleet state keeps of a reading: its data point, value and device time. */
export type LastValue = Pick<Measurement, 'connector' | 'connector_mode' | 'datapoint_label' | 'pin_position' | 'value' | 'value_text' | 'unit' | 'timestamp'>

/**
 * One raw message as the fleet state sees it. The processor writes one for every raw message
 * that names a controller, in the same transaction as the message's measurements and dead
 * letters; a `device_activity` record holds those of consecutive messages of one `raw_iot_data`
 * partition (`{"schema_version":1,"activities":[…]}`), in their order. Few records, not one per
 * message: a Kafka record costs the producer, the broker and the consumer far more than the
 * hundred bytes of an activity (docs/architecture/fleet-state.md).
 */
export interface Activity {
  /** The controller's MAC, 12 lower-case hex digits. */
  device_id: string
  /** The connector's receipt time, as the connector wrote it (ISO UTC). */
  received_at: string
  /** The connector mode of the message's topic; null for a message without one (presence, unknown shapes). */
  mode: string | null
  /** Set for a presence message (`tele/f2-<mac>/LWT`). */
  presence: Presence | null
  /** Replayed by the broker from its retained store: says nothing about the controller now. */
  retained: boolean
  /** Measurements the message produced on `decoded_iot_data`. */
  rows: number
  /** Those measurements' last values; empty when they would not fit in a record. */
  values: LastValue[]
}

/** An activity as read from a record, with its receipt time parsed once, as it was checked. */
export interface ReadActivity extends Activity {
  /** `received_at` in epoch milliseconds. */
  receivedMs: number
}

/** What the processor knows of a message before decoding it: who sent it, when, in which mode. */
export type ActivityHead = Pick<Activity, 'device_id' | 'received_at' | 'mode' | 'presence' | 'retained'>

const MODES: ReadonlySet<string> = new Set(CONNECTOR_MODES)

/**
 * The head of a raw message's activity, or null when it names no controller. The MAC is taken
 * from a presence topic, else the envelope's device id, else the topic: the order the
 * connector fills them in.
 */
export function activityHead (env: RawEnvelope, presence: Presence | null): ActivityHead | null {
  const presenceMac = parsePresenceTopic(env.original_topic)
  const mac = presenceMac ?? (env.device_id === null ? null : normalizeMac(env.device_id)) ?? extractMac(env.original_topic)
  if (mac === null || !Number.isFinite(Date.parse(env.timestamp))) return null
  const level = env.original_topic.split('/', 3)[2]
  return {
    device_id: mac,
    received_at: env.timestamp,
    mode: level !== undefined && MODES.has(level) ? level : null,
    presence: presenceMac === null ? null : presence,
    retained: env.retain
  }
}

/**
 * One activity as JSON text. Each value is a positional array, `[connector, connector_mode,
 * datapoint_label, pin_position, value, value_text, unit, timestamp]`: only what the fleet
 * keeps, about a quarter of the measurements' bytes (every byte is paid again by the
 * processor's socket, the broker and the fleet stage). Written as text directly, once per
 * message in the processor: the same JSON as `JSON.stringify` of the object (a test compares
 * them), at a fraction of its cost. Every string goes through `JSON.stringify`; numbers are
 * finite (validated measurements), whose text is the same in both.
 */
export function encodeActivity (head: ActivityHead, rows: number, values: readonly LastValue[]): string {
  const q = JSON.stringify
  let text = `{"device_id":${q(head.device_id)},"received_at":${q(head.received_at)},"mode":${head.mode === null ? 'null' : q(head.mode)},` +
    `"presence":${head.presence === null ? 'null' : q(head.presence)},"retained":${head.retained},"rows":${rows},"values":[`
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as LastValue
    text += `${i === 0 ? '' : ','}[${v.connector === null ? 'null' : v.connector},${q(v.connector_mode)},${q(v.datapoint_label)},${q(v.pin_position)},` +
      `${v.value === null ? 'null' : v.value},${v.value_text === null ? 'null' : q(v.value_text)},${q(v.unit)},${q(v.timestamp)}]`
  }
  return `${text}]}`
}

/** Bytes a record adds around its activities. */
export const ACTIVITIES_OVERHEAD_BYTES = 40

/** A `device_activity` record's value: activities (encodeActivity's texts) in message order. */
export function encodeActivities (activities: readonly string[]): Buffer {
  return Buffer.from(`{"schema_version":1,"activities":[${activities.join(',')}]}`)
}

/**
 * One encoded value, checked field by field: the types of a measurement the processor
 * validated, and a canonical device time (so that times compare as strings).
 */
function lastValueOf (o: unknown): LastValue | null {
  if (!Array.isArray(o) || o.length !== 8) return null
  const [connector, mode, label, pin, value, text, unit, timestamp] = o as unknown[]
  if ((connector !== null && !Number.isInteger(connector)) || typeof mode !== 'string' || typeof label !== 'string' || typeof pin !== 'string') return null
  if ((value !== null && (typeof value !== 'number' || !Number.isFinite(value))) || (text !== null && typeof text !== 'string')) return null
  if (typeof unit !== 'string' || typeof timestamp !== 'string' || !isCanonicalInstant(timestamp)) return null
  return { connector: connector as number | null, connector_mode: mode, datapoint_label: label, pin_position: pin, value: value as number | null, value_text: text as string | null, unit, timestamp }
}

/**
 * A `device_activity` record: its activities, and how many of its entries were not activities
 * (skipped; counted by the reader). Null when the record itself is not one.
 */
export function decodeActivities (value: Buffer | null | undefined): { activities: ReadActivity[], invalid: number } | null {
  if (value === null || value === undefined || value.length === 0) return null
  let r: unknown
  try {
    r = JSON.parse(value.toString('utf8'))
  } catch {
    return null
  }
  if (typeof r !== 'object' || r === null) return null
  const record = r as Record<string, unknown>
  if (record.schema_version !== 1 || !Array.isArray(record.activities)) return null
  const activities: ReadActivity[] = []
  let invalid = 0
  for (const entry of record.activities as unknown[]) {
    const a = activityOf(entry)
    if (a === null) invalid++
    else activities.push(a)
  }
  return { activities, invalid }
}

/** One entry of a record, checked field by field. */
function activityOf (entry: unknown): ReadActivity | null {
  if (typeof entry !== 'object' || entry === null) return null
  const a = entry as Record<string, unknown>
  const mac = typeof a.device_id === 'string' ? normalizeMac(a.device_id) : null
  const receivedMs = typeof a.received_at === 'string' ? Date.parse(a.received_at) : Number.NaN
  if (mac === null || !Number.isFinite(receivedMs)) return null
  if (a.mode !== null && (typeof a.mode !== 'string' || !MODES.has(a.mode))) return null
  if (a.presence !== null && a.presence !== 'online' && a.presence !== 'offline') return null
  if (typeof a.retained !== 'boolean' || !Number.isInteger(a.rows) || (a.rows as number) < 0 || !Array.isArray(a.values)) return null
  const values: LastValue[] = []
  for (const v of a.values as unknown[]) {
    const lv = lastValueOf(v)
    if (lv === null) return null
    values.push(lv)
  }
  return {
    device_id: mac,
    received_at: a.received_at as string,
    mode: a.mode,
    presence: a.presence,
    retained: a.retained,
    rows: a.rows as number,
    values,
    receivedMs
  }
}
