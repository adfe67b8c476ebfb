import { decodeDeadLetter, type DeadLetter } from '../../core/dead-letter.ts'
import { extractMac, parsePresenceTopic } from '../../core/topic.ts'

/**
 * The fleet stage's pure part on the input side, besides `device_activity` records
 * (src/core/activity.ts): a dead letter as a `dead_letters` row, attributed to its controller.
 */

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
