import { z } from 'zod'
import { ErrorCodes } from './errors.ts'
import { fail, ok, type Result } from './result.ts'
import { extractMac } from './topic.ts'
import { formatIso, parseTimestamp } from './timestamp.ts'
import { isCanonicalInstant } from './iso-instant.ts'
import { decodeBase64, decodeUtf8, encodeBase64, tryParseJson } from './json.ts'

export type PayloadEncoding = 'json' | 'text' | 'base64'

/** The record the connector writes to `raw_iot_data` for every MQTT message. */
export type RawEnvelope = {
  schema_version: 1
  original_topic: string
  /** The controller MAC (12 lowercase hex) when the topic names one. */
  device_id: string | null
  /** json: the parsed value; text: the UTF-8 text; base64: the bytes in base64. */
  payload: unknown
  payload_encoding: PayloadEncoding
  /** Receipt time at the connector, ISO UTC with 6 fraction digits. */
  timestamp: string
  qos: 0 | 1 | 2
  retain: boolean
  message_id?: string
}

export type EnvelopeInput = {
  topic: string
  payload: Uint8Array
  receivedAtMs: number
  qos: 0 | 1 | 2
  retain: boolean
  messageId?: string
}

/**
 * Wraps an MQTT message. The payload is classified with a strict UTF-8 check: valid UTF-8
 * that parses as JSON → 'json' (the parsed value); other valid UTF-8 (including the empty
 * payload) → 'text'; anything else → 'base64'.
 */
export function buildEnvelope (input: EnvelopeInput): RawEnvelope {
  const text = decodeUtf8(input.payload)
  let payload: unknown
  let payloadEncoding: PayloadEncoding
  const parsed = text === null ? { ok: false as const } : tryParseJson(text)
  if (parsed.ok) { payload = parsed.value; payloadEncoding = 'json' } else if (text !== null) { payload = text; payloadEncoding = 'text' } else { payload = encodeBase64(input.payload); payloadEncoding = 'base64' }
  const env: RawEnvelope = {
    schema_version: 1,
    original_topic: input.topic,
    device_id: extractMac(input.topic),
    payload,
    payload_encoding: payloadEncoding,
    timestamp: formatIso(input.receivedAtMs),
    qos: input.qos,
    retain: input.retain
  }
  if (input.messageId !== undefined) env.message_id = input.messageId
  return env
}

/**
 * `encodeEnvelope(buildEnvelope(input))` without the round trip, for the connector's hot path:
 * a JSON payload is checked with JSON.parse and embedded as the device sent it instead of
 * being re-serialised (JSON text is a JSON value, so the record stays valid JSON and decodes to
 * the same envelope). Equivalence is tested in test/core/envelope.test.ts.
 */
export function encodeEnvelopeOf (input: EnvelopeInput): Buffer {
  const text = decodeUtf8(input.payload)
  let payload: string
  let encoding: PayloadEncoding
  if (text === null) { payload = `"${encodeBase64(input.payload)}"`; encoding = 'base64' } else if (tryParseJson(text).ok) { payload = text; encoding = 'json' } else { payload = JSON.stringify(text); encoding = 'text' }
  const mac = extractMac(input.topic)
  const id = input.messageId === undefined ? '' : `,"message_id":${JSON.stringify(input.messageId)}`
  return Buffer.from(`{"schema_version":1,"original_topic":${JSON.stringify(input.topic)},"device_id":${mac === null ? 'null' : `"${mac}"`},"payload":${payload},"payload_encoding":"${encoding}","timestamp":"${formatIso(input.receivedAtMs)}","qos":${input.qos},"retain":${input.retain ? 'true' : 'false'}${id}}`, 'utf8')
}

/** The envelope as UTF-8 JSON (the Kafka record value). */
export function encodeEnvelope (env: RawEnvelope): Buffer {
  return Buffer.from(JSON.stringify(env), 'utf8')
}

/**
 * The payload's bytes. Exact for 'text' and 'base64'; for 'json' the value is re-serialised
 * (JSON.stringify), which is semantically equal to what the device sent but may differ in
 * whitespace, number spelling, escapes and precision of integers beyond 2^53.
 */
export function payloadBytes (env: RawEnvelope): Uint8Array {
  if (env.payload_encoding === 'base64') return decodeBase64(String(env.payload)) ?? new Uint8Array(0)
  if (env.payload_encoding === 'text') return new TextEncoder().encode(String(env.payload))
  return new TextEncoder().encode(JSON.stringify(env.payload) ?? '')
}

const isoInstant = z.unknown().transform((v, ctx) => {
  const r = parseTimestamp(v, 'UTC')
  if (r.ok) return r.value.iso
  ctx.addIssue({ code: 'custom', message: r.error.message })
  return z.NEVER
})

export const V1Schema = z.object({
  schema_version: z.literal(1),
  original_topic: z.string(),
  device_id: z.string().nullable(),
  payload: z.unknown(),
  payload_encoding: z.enum(['json', 'text', 'base64']),
  timestamp: isoInstant,
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  retain: z.boolean(),
  message_id: z.string().optional()
})

/** The seed connector's envelope: no version, no encoding, receipt time as ISO or epoch. */
const SeedSchema = z.object({
  original_topic: z.string(),
  device_id: z.string().nullish(),
  payload: z.unknown(),
  timestamp: isoInstant,
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).optional(),
  retain: z.boolean().optional()
})

function invalid (message: string, details?: Record<string, unknown>): Result<never> {
  return fail(ErrorCodes.ENVELOPE_INVALID, `invalid envelope: ${message}`, details)
}

function issuesOf (e: z.ZodError): Array<{ path: string; message: string }> {
  return e.issues.map(i => ({ path: i.path.map(String).join('.'), message: i.message }))
}

/**
 * V1Schema's result (with decodeEnvelope's checks) for the envelope the connector writes
 * (JSON payload, canonical receipt time), without zod; `undefined` for anything else, which
 * the schema then decides. Equivalence is tested in test/core/envelope-fast.unit.test.ts.
 */
export function fastDecodeV1 (raw: Record<string, unknown>): RawEnvelope | undefined {
  const { schema_version: version, original_topic: topic, device_id: deviceId, payload, payload_encoding: encoding, timestamp, qos, retain, message_id: messageId } = raw
  if (version !== 1 || typeof topic !== 'string' || (deviceId !== null && typeof deviceId !== 'string')) return undefined
  if (encoding !== 'json') return undefined
  if (typeof timestamp !== 'string' || !isCanonicalInstant(timestamp)) return undefined
  if ((qos !== 0 && qos !== 1 && qos !== 2) || typeof retain !== 'boolean') return undefined
  if (messageId !== undefined && typeof messageId !== 'string') return undefined
  const env: RawEnvelope = { schema_version: 1, original_topic: topic, device_id: deviceId, payload, payload_encoding: encoding, timestamp, qos, retain }
  if (messageId !== undefined) env.message_id = messageId
  return env
}

/**
 * Reads a `raw_iot_data` record. Accepts schema_version 1 and the seed's bare envelope
 * (original_topic, device_id, payload, timestamp). For a seed envelope, a string payload
 * that parses as JSON becomes 'json' (the seed stored device JSON as text), another
 * string is 'text', any other value 'json'; qos defaults to 0, retain to false, and a
 * missing device_id is taken from the topic. Failures: F2_ENVELOPE_INVALID. Never throws.
 */
export function decodeEnvelope (bytes: Uint8Array): Result<RawEnvelope> {
  if (!(bytes instanceof Uint8Array)) return invalid('not bytes')
  const text = decodeUtf8(bytes)
  if (text === null) return invalid('not UTF-8')
  const parsed = tryParseJson(text)
  if (!parsed.ok) return invalid('not JSON')
  const raw = parsed.value
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return invalid('not a JSON object')
  if (!('payload' in raw)) return invalid('payload missing')
  if ('schema_version' in raw) {
    const fast = fastDecodeV1(raw as Record<string, unknown>)
    if (fast !== undefined) return ok(fast)
    const r = V1Schema.safeParse(raw)
    if (!r.success) return invalid('schema mismatch', { issues: issuesOf(r.error) })
    const env = r.data as RawEnvelope
    if (env.payload_encoding !== 'json' && typeof env.payload !== 'string') return invalid(`${env.payload_encoding} payload must be a string`)
    if (env.payload_encoding === 'base64' && decodeBase64(env.payload as string) === null) return invalid('payload is not valid base64')
    if (env.message_id === undefined) delete env.message_id
    return ok(env)
  }
  const r = SeedSchema.safeParse(raw)
  if (!r.success) return invalid('schema mismatch', { issues: issuesOf(r.error) })
  const s = r.data
  let payload = s.payload
  let payloadEncoding: PayloadEncoding = 'json'
  if (typeof payload === 'string') {
    const inner = tryParseJson(payload)
    if (inner.ok) payload = inner.value
    else payloadEncoding = 'text'
  }
  return ok({
    schema_version: 1,
    original_topic: s.original_topic,
    device_id: s.device_id ?? extractMac(s.original_topic),
    payload,
    payload_encoding: payloadEncoding,
    timestamp: s.timestamp,
    qos: s.qos ?? 0,
    retain: s.retain ?? false
  })
}
