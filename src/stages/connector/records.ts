import { buildRecord, RECORD_OVERHEAD_BYTES, recordBytes, type KafkaRecord } from '../../adapters/kafka.ts'
import type { InboundMessage } from '../../adapters/mqtt.ts'
import { encodeDeadLetterWithin } from '../../core/dead-letter.ts'
import { encodeEnvelopeOf } from '../../core/envelope.ts'
import { ErrorCodes, type ErrorCode } from '../../core/errors.ts'
import { extractMac } from '../../core/topic.ts'

export interface RecordLimits {
  topic: string
  deadLetterTopic: string
  maxPayloadBytes: number
  deadLetterMaxBytes: number
  /** Largest record (key, value, headers, framing) the topics accept: the broker's message.max.bytes. */
  maxRecordBytes: number
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

type Message = Pick<InboundMessage, 'topic' | 'payload' | 'qos' | 'retain' | 'receivedAtMs'>

/**
 * Turns one MQTT message into the record that carries it: an envelope on the raw topic, or a
 * dead letter (with the reason code and the original bytes) when it cannot be forwarded —
 * including an envelope that came out larger than the record limit (escaping can make a
 * payload six times larger). Never throws.
 */
export function toRecord (message: Message, limits: RecordLimits): ToRecordResult {
  const key = recordKey(message.topic)
  if (message.payload.length > limits.maxPayloadBytes) {
    return deadLetter(message, key, limits, ErrorCodes.PAYLOAD_TOO_LARGE,
      `payload of ${message.payload.length} bytes exceeds the limit of ${limits.maxPayloadBytes}`, { bytes: message.payload.length, limit: limits.maxPayloadBytes })
  }
  try {
    const record = buildRecord(limits.topic, key, encodeEnvelopeOf({ topic: message.topic, payload: message.payload, receivedAtMs: message.receivedAtMs, qos: message.qos, retain: message.retain }))
    const size = recordBytes(record)
    if (size > limits.maxRecordBytes) {
      return deadLetter(message, key, limits, ErrorCodes.RECORD_TOO_LARGE,
        `the envelope of a ${message.payload.length}-byte payload is ${size} bytes, above the record limit of ${limits.maxRecordBytes}`,
        { payload_bytes: message.payload.length, record_bytes: size, limit: limits.maxRecordBytes })
    }
    return { record, deadLetterReason: null }
  } catch (err) {
    return deadLetter(message, key, limits, ErrorCodes.ENVELOPE_INVALID, `could not build the envelope: ${(err as Error).message}`, {})
  }
}

/** The dead letter of a message whose record the broker refused (see the forwarder). */
export function rejectedRecord (message: Message, limits: RecordLimits, text: string): KafkaRecord {
  return deadLetter(message, recordKey(message.topic), limits, ErrorCodes.RECORD_REJECTED, text, {}).record
}

function deadLetter (message: Pick<InboundMessage, 'topic' | 'payload' | 'receivedAtMs'>, key: string, limits: RecordLimits, code: ErrorCode, text: string, details: Record<string, unknown>): ToRecordResult {
  // Bounded by the record limit; originals above deadLetterMaxBytes keep a prefix and a digest.
  const value = encodeDeadLetterWithin({
    error: { code, message: text, details },
    stage: 'connector',
    failedAtMs: message.receivedAtMs,
    mqttTopic: message.topic,
    originalKey: Buffer.from(key, 'utf8'),
    originalValue: message.payload
  }, limits.maxRecordBytes - RECORD_OVERHEAD_BYTES - 2 * Buffer.byteLength(key) - 64, limits.deadLetterMaxBytes)
  return { record: buildRecord(limits.deadLetterTopic, key, value, { reason: code }), deadLetterReason: code }
}
