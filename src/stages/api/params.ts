import { ErrorCodes, F2Error, type ErrorCode } from '../../core/errors.ts'
import { normalizeMacLenient } from '../../core/topic.ts'

/**
 * Query-string parsing for the read API: pure (the clock comes in as `now`), strict (an
 * unknown or repeated parameter is an error, nothing is coerced silently) and bounded (page
 * sizes and time ranges have maxima). Every refusal is an F2Error with
 * F2_API_PARAMETER_INVALID or F2_API_RANGE_TOO_LARGE and `details.parameter`.
 */

export const LIMITS = Object.freeze({
  devicesPage: { default: 100, max: 1000 },
  readings: { default: 1000, max: 10_000 },
  deadLettersPage: { default: 100, max: 1000 },
  /** Longest range per bucket kind, and the range used when `from` is not given. */
  spanMs: { raw: days(31), '1m': days(7), '1h': days(366), deadLetters: days(31) },
  defaultSpanMs: { raw: hours(1), '1m': hours(6), '1h': days(7), deadLetters: hours(24) },
  textParam: 128
})

export const BUCKETS = ['raw', '1m', '1h'] as const
export type Bucket = (typeof BUCKETS)[number]
export const DEAD_LETTER_STAGES = ['connector', 'processor', 'sink'] as const
export type ReadingsFormat = 'json' | 'csv'

export interface DeviceListQuery { online?: boolean, mode?: string, limit: number, after?: string }

export interface ReadingsQuery {
  mac: string
  bucket: Bucket
  /** Inclusive start; for aggregates the first bucket boundary at or after the requested `from`. */
  from: Date
  /** Exclusive end; for aggregates rounded up to a bucket boundary like `from`. */
  to: Date
  label?: string
  pin?: string
  connector?: number
  limit: number
  format: ReadingsFormat
}

export interface DeadLetterCursor { failedAt: string, partition: number, offset: string }

export interface DeadLetterQuery {
  from: Date
  to: Date
  reason?: string
  mac?: string
  stage?: string
  limit: number
  after?: DeadLetterCursor
}

function days (n: number): number { return n * 86_400_000 }
function hours (n: number): number { return n * 3_600_000 }

export function invalid (parameter: string, message: string, code: ErrorCode = ErrorCodes.API_PARAMETER_INVALID): F2Error {
  return new F2Error(code, `${parameter}: ${message}`, { details: { parameter } })
}

/** The parameters as a plain map, refusing names outside `allowed` and repeated names. */
function single (params: URLSearchParams, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>()
  for (const [key, value] of params) {
    if (!allowed.includes(key)) throw invalid(key, `unknown parameter (accepted: ${allowed.join(', ')})`)
    if (out.has(key)) throw invalid(key, 'given more than once')
    out.set(key, value)
  }
  return out
}

/** A controller MAC in any usual spelling (case, ':' or '-'), normalised to 12 lowercase hex digits. */
export function parseMac (raw: string, parameter = 'mac'): string {
  const mac = raw.length <= 32 ? normalizeMacLenient(raw) : null
  if (mac === null) throw invalid(parameter, 'expected a MAC address of 12 hex digits (e.g. e4fd45f654be or E4:FD:45:F6:54:BE)')
  return mac
}

function parseLimit (raw: string | undefined, bounds: { default: number, max: number }, parameter = 'limit'): number {
  if (raw === undefined) return bounds.default
  if (!/^\d{1,7}$/.test(raw) || Number(raw) < 1 || Number(raw) > bounds.max) throw invalid(parameter, `expected an integer from 1 to ${bounds.max}`)
  return Number(raw)
}

const INSTANT_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/

/** An ISO 8601 instant with its zone (`2024-05-01T12:00:00Z`, `…+02:00`); a naive time is refused. */
export function parseInstant (raw: string, parameter: string): Date {
  const ms = INSTANT_RE.test(raw) ? Date.parse(raw) : Number.NaN
  if (!Number.isFinite(ms)) throw invalid(parameter, 'expected an ISO 8601 time with a zone, e.g. 2024-05-01T12:00:00Z')
  return new Date(ms)
}

function parseText (raw: string | undefined, parameter: string): string | undefined {
  if (raw === undefined) return undefined
  if (raw.length === 0 || raw.length > LIMITS.textParam || /\p{Cc}/u.test(raw)) {
    throw invalid(parameter, `expected 1 to ${LIMITS.textParam} printable characters`)
  }
  return raw
}

function oneOf<T extends string> (raw: string | undefined, values: readonly T[], parameter: string): T | undefined {
  if (raw === undefined) return undefined
  if (!(values as readonly string[]).includes(raw)) throw invalid(parameter, `expected one of ${values.join(', ')}`)
  return raw as T
}

/** `from`/`to` with their defaults (to = now, from = to − default span), ordered and at most `maxMs` apart. */
function parseRange (values: Map<string, string>, now: Date, defaultMs: number, maxMs: number, what: string): { from: Date, to: Date } {
  const toRaw = values.get('to')
  const fromRaw = values.get('from')
  const to = toRaw === undefined ? now : parseInstant(toRaw, 'to')
  const from = fromRaw === undefined ? new Date(to.getTime() - defaultMs) : parseInstant(fromRaw, 'from')
  if (from.getTime() >= to.getTime()) throw invalid('from', 'must be before to', ErrorCodes.API_RANGE_TOO_LARGE)
  if (to.getTime() - from.getTime() > maxMs) {
    throw invalid('from', `the range may span at most ${maxMs / 86_400_000} days for ${what}`, ErrorCodes.API_RANGE_TOO_LARGE)
  }
  return { from, to }
}

/** `GET /api/devices?state=online|offline&mode=&limit=&cursor=` */
export function parseDeviceList (params: URLSearchParams): DeviceListQuery {
  const v = single(params, ['state', 'mode', 'limit', 'cursor'])
  const state = oneOf(v.get('state'), ['online', 'offline'] as const, 'state')
  const mode = parseText(v.get('mode'), 'mode')
  const cursor = v.get('cursor')
  const out: DeviceListQuery = { limit: parseLimit(v.get('limit'), LIMITS.devicesPage) }
  if (state !== undefined) out.online = state === 'online'
  if (mode !== undefined) out.mode = mode
  if (cursor !== undefined) {
    if (!/^[0-9a-f]{12}$/.test(cursor)) throw invalid('cursor', 'expected the next_cursor of the previous page')
    out.after = cursor
  }
  return out
}

const ceilTo = (d: Date, stepMs: number): Date => new Date(Math.ceil(d.getTime() / stepMs) * stepMs)

/** `GET /api/devices/{mac}/readings?from&to&label&pin&connector&bucket=raw|1m|1h&limit&format=json|csv` */
export function parseReadings (mac: string, params: URLSearchParams, now: Date, accept: string | undefined): ReadingsQuery {
  const v = single(params, ['from', 'to', 'label', 'pin', 'connector', 'bucket', 'limit', 'format'])
  const bucket = oneOf(v.get('bucket'), BUCKETS, 'bucket') ?? 'raw'
  let { from, to } = parseRange(v, now, LIMITS.defaultSpanMs[bucket], LIMITS.spanMs[bucket], `bucket=${bucket}`)
  if (bucket !== 'raw') {
    // Whole buckets only: those starting in [from, to).
    const step = bucket === '1m' ? 60_000 : 3_600_000
    from = ceilTo(from, step)
    to = ceilTo(to, step)
    if (from.getTime() >= to.getTime()) throw invalid('from', `the range holds no whole ${bucket} bucket`, ErrorCodes.API_RANGE_TOO_LARGE)
  }
  const out: ReadingsQuery = {
    mac,
    bucket,
    from,
    to,
    limit: parseLimit(v.get('limit'), LIMITS.readings),
    format: oneOf(v.get('format'), ['json', 'csv'] as const, 'format') ?? (/\btext\/csv\b/i.test(accept ?? '') ? 'csv' : 'json')
  }
  const label = parseText(v.get('label'), 'label')
  if (label !== undefined) out.label = label
  const pin = v.get('pin')
  if (pin !== undefined) {
    if (!/^-?\d{1,4}$/.test(pin)) throw invalid('pin', 'expected a pin position (an integer)')
    out.pin = String(Number(pin))
  }
  const connector = v.get('connector')
  if (connector !== undefined) {
    if (!/^[0-5]$/.test(connector)) throw invalid('connector', 'expected a connector number from 0 to 5')
    out.connector = Number(connector)
  }
  return out
}

/** `GET /api/dead-letters?reason&mac&stage&from&to&limit&cursor` */
export function parseDeadLetters (params: URLSearchParams, now: Date, reasons: readonly string[]): DeadLetterQuery {
  const v = single(params, ['reason', 'mac', 'stage', 'from', 'to', 'limit', 'cursor'])
  const { from, to } = parseRange(v, now, LIMITS.defaultSpanMs.deadLetters, LIMITS.spanMs.deadLetters, 'dead letters')
  const out: DeadLetterQuery = { from, to, limit: parseLimit(v.get('limit'), LIMITS.deadLettersPage) }
  const reason = v.get('reason')
  if (reason !== undefined) {
    if (!reasons.includes(reason)) throw invalid('reason', 'expected an F2_* error code (docs/operations/error-codes.md)')
    out.reason = reason
  }
  const mac = v.get('mac')
  if (mac !== undefined) out.mac = parseMac(mac)
  const stage = oneOf(v.get('stage'), DEAD_LETTER_STAGES, 'stage')
  if (stage !== undefined) out.stage = stage
  const cursor = v.get('cursor')
  if (cursor !== undefined) out.after = decodeDeadLetterCursor(cursor)
  return out
}

/** The position after a dead letter, opaque to clients: base64url of `<failed_at>|<partition>|<offset>`. */
export function encodeDeadLetterCursor (c: DeadLetterCursor): string {
  return Buffer.from(`${c.failedAt}|${c.partition}|${c.offset}`, 'utf8').toString('base64url')
}

export function decodeDeadLetterCursor (raw: string): DeadLetterCursor {
  const text = raw.length <= 120 && /^[A-Za-z0-9_-]+$/.test(raw) ? Buffer.from(raw, 'base64url').toString('utf8') : ''
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\|(\d{1,9})\|(\d{1,19})$/.exec(text)
  if (m === null || !Number.isFinite(Date.parse(m[1] as string))) throw invalid('cursor', 'expected the next_cursor of the previous page')
  return { failedAt: m[1] as string, partition: Number(m[2]), offset: m[3] as string }
}
