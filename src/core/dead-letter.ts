import { createHash } from 'node:crypto'
import { z } from 'zod'
import { ErrorCodes, type ErrorCode } from './errors.ts'
import { fail, ok, type Result } from './result.ts'
import { formatIso } from './timestamp.ts'
import { decodeBase64, decodeUtf8, encodeBase64, toJsonSafe, tryParseJson } from './json.ts'

export type DeadLetterStage = 'connector' | 'processor' | 'sink'
export type DeadLetterSource = { topic: string; partition: number; offset: string }

/** A record on `iot_dead_letter`: why a message could not go on, and the message itself. */
export type DeadLetter = {
  schema_version: 1
  reason: ErrorCode
  message: string
  stage: DeadLetterStage
  /** ISO UTC, 6 fraction digits. */
  failed_at: string
  /** Kafka coordinates of the failed record (null at the connector, which reads MQTT). */
  source: DeadLetterSource | null
  mqtt_topic: string | null
  /** base64 of the original Kafka key, if any. */
  original_key: string | null
  /** base64 of the original bytes (MQTT payload at the connector, Kafka value later). */
  original_value: string
  /**
   * Digest of the message this dead letter is about (MQTT topic and payload): the same message
   * dead-lettered twice — redelivered by the broker after a crash, before its acknowledgement —
   * carries the same key, and the `dead_letters` table keeps one row per key.
   */
  message_key?: string
  details?: Record<string, unknown>
}

type FailureLike = { code: ErrorCode; message: string; details?: Record<string, unknown> | undefined }

/** Why: either `error` (a Failure or an F2Error) or the flat `reason` / `message` / `details`. */
export type DeadLetterInput = (
  | { error: FailureLike }
  | { reason: ErrorCode; message: string; details?: Record<string, unknown> | undefined }
) & {
  stage: DeadLetterStage
  failedAtMs: number
  source?: DeadLetterSource | null
  mqttTopic?: string | null
  originalKey?: Uint8Array | null
  originalValue: Uint8Array
  /** See DeadLetter.message_key; by default the digest of `mqttTopic` and `originalValue`. */
  messageKey?: string
}

/** The `message_key` of a message on MQTT topic `topic` (null: not known) with these bytes. */
export function deadLetterMessageKey (topic: string | null, payload: Uint8Array): string {
  return createHash('sha256').update(topic ?? '').update('\0').update(payload).digest('hex').slice(0, 32)
}

/** Builds a dead letter; `details` are made JSON-safe (bigint, bytes, errors, cycles). */
export function buildDeadLetter (input: DeadLetterInput): DeadLetter {
  const why: FailureLike = 'error' in input ? input.error : { code: input.reason, message: input.message, details: input.details }
  const dl: DeadLetter = {
    schema_version: 1,
    reason: why.code,
    message: why.message,
    stage: input.stage,
    failed_at: formatIso(input.failedAtMs),
    source: input.source ?? null,
    mqtt_topic: input.mqttTopic ?? null,
    original_key: input.originalKey === undefined || input.originalKey === null ? null : encodeBase64(input.originalKey),
    original_value: encodeBase64(input.originalValue),
    message_key: input.messageKey ?? deadLetterMessageKey(input.mqttTopic ?? null, input.originalValue)
  }
  if (why.details !== undefined) dl.details = toJsonSafe(why.details) as Record<string, unknown>
  return dl
}

export function encodeDeadLetter (dl: DeadLetter): Buffer {
  return Buffer.from(JSON.stringify(dl), 'utf8')
}

const codes = Object.values(ErrorCodes) as [ErrorCode, ...ErrorCode[]]
const base64 = z.string().refine(s => decodeBase64(s) !== null, 'not valid base64')

const DeadLetterSchema = z.object({
  schema_version: z.literal(1),
  reason: z.enum(codes),
  message: z.string(),
  stage: z.enum(['connector', 'processor', 'sink']),
  failed_at: z.string(),
  source: z.object({ topic: z.string(), partition: z.int().min(0), offset: z.string().regex(/^\d+$/) }).nullable(),
  mqtt_topic: z.string().nullable(),
  original_key: base64.nullable(),
  original_value: base64,
  message_key: z.string().optional(),
  details: z.record(z.string(), z.unknown()).optional()
})

/** Reads a dead-letter record (F2_DEAD_LETTER_INVALID on any mismatch). Never throws. */
export function decodeDeadLetter (bytes: Uint8Array): Result<DeadLetter> {
  const text = decodeUtf8(bytes)
  const parsed = text === null ? { ok: false as const } : tryParseJson(text)
  if (!parsed.ok) return fail(ErrorCodes.DEAD_LETTER_INVALID, 'dead letter is not UTF-8 JSON')
  const r = DeadLetterSchema.safeParse(parsed.value)
  if (!r.success) {
    return fail(ErrorCodes.DEAD_LETTER_INVALID, 'dead letter does not match its schema', { issues: r.error.issues.map(i => ({ path: i.path.map(String).join('.'), message: i.message })) })
  }
  const dl = r.data as DeadLetter
  if (dl.details === undefined) delete dl.details
  if (dl.message_key === undefined) delete dl.message_key
  return ok(dl)
}

/** The original bytes of a dead letter's message (for replay). */
export function deadLetterValue (dl: DeadLetter): Uint8Array {
  return decodeBase64(dl.original_value) ?? new Uint8Array(0)
}

/** What a dead letter adds around the original's base64 beyond its other fields (see below). */
const TRUNCATION_DETAILS_BYTES = 160
/** Details larger than this are replaced by their size when the record must shrink. */
const MAX_KEPT_DETAILS_BYTES = 16 * 1024
const MAX_KEPT_MESSAGE_CHARS = 1000

/**
 * The dead letter of `input`, encoded in at most `maxBytes` (the record limit of the
 * dead-letter topic, less key and header room). The original is kept whole when it fits and
 * is at most `maxOriginalBytes`; otherwise the record keeps a prefix of it and says so in
 * `details`: `truncated: true`, `original_bytes` (the full size) and `original_sha256` (hex of
 * the full original). Oversized `details` are replaced by their size. The size of the base64
 * is known without encoding it, so the whole record is serialised once.
 */
export function encodeDeadLetterWithin (input: DeadLetterInput, maxBytes: number, maxOriginalBytes = Number.POSITIVE_INFINITY): Buffer {
  const original = input.originalValue
  const dl = buildDeadLetter({ ...input, messageKey: input.messageKey ?? deadLetterMessageKey(input.mqttTopic ?? null, original), originalValue: new Uint8Array(0) })
  const frame = Buffer.byteLength(JSON.stringify(dl), 'utf8')
  if (original.length <= maxOriginalBytes && frame + base64Length(original.length) <= maxBytes) {
    dl.original_value = encodeBase64(original)
    return encodeDeadLetter(dl)
  }
  const truncation = { truncated: true, original_bytes: original.length, original_sha256: createHash('sha256').update(original).digest('hex') }
  if (frame + TRUNCATION_DETAILS_BYTES > maxBytes / 2) {
    // Details or message (e.g. a failure quoting the input) leave no room: keep their size only.
    const detailsBytes = dl.details === undefined ? 0 : Buffer.byteLength(JSON.stringify(dl.details), 'utf8')
    if (detailsBytes > MAX_KEPT_DETAILS_BYTES) dl.details = { details_omitted: true, details_bytes: detailsBytes }
    if (dl.message.length > MAX_KEPT_MESSAGE_CHARS) dl.message = `${dl.message.slice(0, MAX_KEPT_MESSAGE_CHARS)}…`
  }
  dl.details = { ...dl.details, ...truncation }
  const room = maxBytes - Buffer.byteLength(JSON.stringify(dl), 'utf8')
  const keep = Math.max(0, Math.min(original.length - 1, maxOriginalBytes, Math.floor(room / 4) * 3))
  dl.original_value = encodeBase64(original.subarray(0, keep))
  return encodeDeadLetter(dl)
}

function base64Length (bytes: number): number {
  return Math.ceil(bytes / 3) * 4
}
