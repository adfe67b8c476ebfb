import { decodeDeadLetter, type DeadLetter } from '../../core/dead-letter.ts'
import { decodeEnvelope } from '../../core/envelope.ts'
import { parseMeasurement } from '../../core/measurement.ts'
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

/** A `raw_iot_data` record: who sent it, when it arrived, in which mode. */
export function readRaw (value: Buffer | null | undefined): Seen | null {
  if (value === null || value === undefined || value.length === 0) return null
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

/** A `decoded_iot_data` record: its controller and the reading as a last value. */
export function readDecoded (value: Buffer | null | undefined): { mac: string, value: LastValue } | null {
  if (value === null || value === undefined) return null
  let input: unknown
  try {
    input = JSON.parse(value.toString('utf8'))
  } catch {
    return null
  }
  const m = parseMeasurement(input)
  if (!m.ok) return null
  const r = m.value
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
    record: d
  }
}
