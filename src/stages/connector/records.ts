import { createHash } from 'node:crypto'
import { buildRecord, type KafkaRecord } from '../../adapters/kafka.ts'
import type { InboundMessage } from '../../adapters/mqtt.ts'
import { buildDeadLetter, encodeDeadLetter } from '../../core/dead-letter.ts'
import { buildEnvelope, encodeEnvelope } from '../../core/envelope.ts'
import { ErrorCodes, type ErrorCode } from '../../core/errors.ts'
import { extractMac } from '../../core/topic.ts'

export interface RecordLimits {
  topic: string
  deadLetterTopic: string
  maxPayloadBytes: number
  deadLetterMaxBytes: number
}

export interface ToRecordResult {
  record: KafkaRecord
  deadLetterReason: ErrorCode | null
}

/** `tele`, `stat`, `cmnd` or `other`: the `kind` label of the received counter. */
export function topicKind (topic: string): 'tele' | 'stat' | 'cmnd' | 'other' {
  const first = topic.slice(0, topic.indexOf('/') === -1 ? topic.length : topic.indexOf('/'))
  return first === 'tele' || first === 'stat' || first === 'cmnd' ? first : 'other'
}

/** Kafka key: the controller MAC, so one device's messages share a partition; else the topic. */
export function recordKey (topic: string): string {
  return extractMac(topic) ?? topic
}

/**
 * Turns one MQTT message into the record that carries it: an envelope on the raw topic, or a
 * dead letter (with the reason code and the original bytes) when it cannot be forwarded.
 * Never throws.
 */
export function toRecord (message: Pick<InboundMessage, 'topic' | 'payload' | 'qos' | 'retain' | 'receivedAtMs'>, limits: RecordLimits): ToRecordResult {
  const key = recordKey(message.topic)
  if (message.payload.length > limits.maxPayloadBytes) {
    return deadLetter(message, key, limits, ErrorCodes.PAYLOAD_TOO_LARGE,
      `payload of ${message.payload.length} bytes exceeds the limit of ${limits.maxPayloadBytes}`, { bytes: message.payload.length, limit: limits.maxPayloadBytes })
  }
  try {
    const envelope = buildEnvelope({ topic: message.topic, payload: message.payload, receivedAtMs: message.receivedAtMs, qos: message.qos, retain: message.retain })
    return { record: buildRecord(limits.topic, key, encodeEnvelope(envelope)), deadLetterReason: null }
  } catch (err) {
    return deadLetter(message, key, limits, ErrorCodes.ENVELOPE_INVALID, `could not build the envelope: ${(err as Error).message}`, {})
  }
}

function deadLetter (message: Pick<InboundMessage, 'topic' | 'payload' | 'receivedAtMs'>, key: string, limits: RecordLimits, code: ErrorCode, text: string, details: Record<string, unknown>): ToRecordResult {
  let original = message.payload
  if (original.length > limits.deadLetterMaxBytes) {
    // Whole originals this large would exceed Kafka's record size; keep a prefix and a digest.
    details = { ...details, truncated: true, original_bytes: original.length, original_sha256: createHash('sha256').update(original).digest('hex') }
    original = original.subarray(0, limits.deadLetterMaxBytes)
  }
  const dl = buildDeadLetter({
    error: { code, message: text, details },
    stage: 'connector',
    failedAtMs: message.receivedAtMs,
    mqttTopic: message.topic,
    originalKey: Buffer.from(key, 'utf8'),
    originalValue: original
  })
  return { record: buildRecord(limits.deadLetterTopic, key, encodeDeadLetter(dl), { reason: code }), deadLetterReason: code }
}
