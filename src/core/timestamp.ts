import { ErrorCodes } from './errors.ts'
import { fail, ok, type Result } from './result.ts'

/** A device instant. `iso` is UTC with exactly 6 fraction digits; `epochMs` may carry a sub-ms fraction. */
export type DeviceTime = { iso: string; epochMs: number }

/** Numbers (and numeric strings) at or above this are epoch milliseconds; below it, epoch seconds. */
export const EPOCH_MS_THRESHOLD = 1e11
/** First instant accepted (inclusive), in whole seconds: 1970-01-01T00:00:00Z. */
const MIN_SEC = 0
/** Last second accepted (inclusive): 9999-12-31T23:59:59Z. */
const MAX_SEC = 253402300799

const formatters = new Map<string, Intl.DateTimeFormat>()

function formatter (zone: string): Intl.DateTimeFormat | null {
  let f = formatters.get(zone)
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        era: 'short'
      })
    } catch {
      return null
    }
    formatters.set(zone, f)
  }
  return f
}

/** True when `zone` is an IANA zone name (or `UTC`) this runtime knows. */
export function isValidZone (zone: string): boolean {
  return typeof zone === 'string' && zone.length > 0 && formatter(zone) !== null
}

/** Offset of `zone` from UTC at the instant `sec` (whole seconds), in seconds. */
function offsetSeconds (f: Intl.DateTimeFormat, sec: number): number {
  const parts: Record<string, string> = {}
  for (const p of f.formatToParts(new Date(sec * 1000))) parts[p.type] = p.value
  const year = parts.era === 'BC' || parts.era === 'B' ? 1 - Number(parts.year) : Number(parts.year)
  const wall = Date.UTC(year, Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second)) / 1000
  return wall - sec
}

/**
 * UTC seconds of a wall-clock time in `zone`. Ambiguous times (clocks set back) resolve to
 * the earlier instant; non-existent times (clocks set forward) shift forward by the gap —
 * the "compatible" rule of Temporal and of most databases.
 */
function zonedToUtc (f: Intl.DateTimeFormat, wallSec: number): number {
  const before = offsetSeconds(f, wallSec - 86400)
  const after = offsetSeconds(f, wallSec + 86400)
  const candidates = [...new Set([before, after])]
    .map(off => wallSec - off)
    .filter(sec => sec + offsetSeconds(f, sec) === wallSec)
    .sort((a, b) => a - b)
  if (candidates.length > 0) return candidates[0] as number
  // In a gap: read the wall time with the offset in force before the transition.
  return wallSec - before
}

// Date#toISOString was 6 % of the connector's CPU (one receipt time per message); messages
// come in runs within one second, so the last second's parts are kept.
let lastSec = Number.NaN
let lastParts = { date: '', time: '' }

function utcParts (sec: number): { date: string; time: string } {
  if (sec === lastSec) return lastParts
  const s = new Date(sec * 1000).toISOString()
  lastParts = { date: s.slice(0, 10), time: s.slice(11, 19) }
  lastSec = sec
  return lastParts
}

function build (sec: number, micro: number): Result<DeviceTime> {
  if (micro >= 1_000_000) { sec += 1; micro -= 1_000_000 }
  if (!Number.isSafeInteger(sec) || sec < MIN_SEC || sec > MAX_SEC) {
    return fail(ErrorCodes.TIMESTAMP_INVALID, 'timestamp out of range (1970-01-01 .. 9999-12-31 UTC)', { reason: 'out-of-range' })
  }
  const { date, time } = utcParts(sec)
  return ok({ iso: `${date}T${time}.${String(micro).padStart(6, '0')}Z`, epochMs: sec * 1000 + micro / 1000 })
}

function invalid (reason: string, input: unknown): Result<never> {
  const shown = typeof input === 'string' ? input.slice(0, 100) : typeof input === 'number' ? String(input) : typeof input
  return fail(ErrorCodes.TIMESTAMP_INVALID, `invalid timestamp (${reason}): ${shown}`, { reason, input: shown })
}

/** Rounds a fraction given as decimal digits to `places` digits, half up; returns [value, carry]. */
function roundDigits (digits: string, places: number): [number, number] {
  if (digits.length <= places) return [Number(digits.padEnd(places, '0')), 0]
  let v = BigInt(digits.slice(0, places))
  if (Number(digits[places]) >= 5) v += 1n
  const limit = 10n ** BigInt(places)
  return v >= limit ? [Number(v - limit), 1] : [Number(v), 0]
}

function fromNumber (n: number, input: unknown): Result<DeviceTime> {
  if (!Number.isFinite(n)) return invalid('not-finite', input)
  if (n < 0) return invalid('out-of-range', input)
  if (n >= EPOCH_MS_THRESHOLD) {
    const ms = Math.floor(n)
    const micro = Math.round((n - ms) * 1000) + (ms % 1000) * 1000
    return build((ms - (ms % 1000)) / 1000, micro)
  }
  const sec = Math.floor(n)
  // n - floor(n) is exact in binary floating point, so only the final rounding is inexact.
  return build(sec, Math.round((n - sec) * 1e6))
}

function fromNumericString (intPart: string, fracPart: string, input: unknown): Result<DeviceTime> {
  const whole = BigInt(intPart)
  if (whole >= BigInt(EPOCH_MS_THRESHOLD)) {
    const [fracMicro, carry] = roundDigits(fracPart, 3)
    const ms = whole + BigInt(carry)
    if (ms > BigInt(MAX_SEC) * 1000n + 999n) return invalid('out-of-range', input)
    return build(Number(ms / 1000n), Number(ms % 1000n) * 1000 + fracMicro)
  }
  const [micro, carry] = roundDigits(fracPart, 6)
  return build(Number(whole) + carry, micro)
}

const NUMERIC_RE = /^\+?(\d{1,20})(?:\.(\d+))?$/
const DATETIME_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,12}))?)?\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/

function daysInMonth (year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate()
}

function fromDateTime (m: RegExpExecArray, zone: string, input: unknown): Result<DeviceTime> {
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number, number]
  const second = m[6] === undefined ? 0 : Number(m[6])
  if (year < 1900 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) ||
    hour > 23 || minute > 59 || second > 59) return invalid('invalid-field', input)
  const [micro, carry] = roundDigits(m[7] ?? '', 6)
  const wallSec = Date.UTC(year, month - 1, day, hour, minute, second) / 1000 + carry
  let sec: number
  if (m[8] !== undefined) {
    sec = wallSec
  } else if (m[9] !== undefined) {
    const oh = Number(m[10])
    const om = m[11] === undefined ? 0 : Number(m[11])
    if (oh > 23 || om > 59) return invalid('invalid-offset', input)
    sec = wallSec - (m[9] === '-' ? -1 : 1) * (oh * 3600 + om * 60)
  } else {
    const f = formatter(zone)
    if (f === null) return fail(ErrorCodes.CONFIG_INVALID, `unknown time zone '${String(zone).slice(0, 100)}'`, { reason: 'invalid-zone', zone: String(zone).slice(0, 100) })
    sec = zone === 'UTC' ? wallSec : zonedToUtc(f, wallSec)
  }
  return build(sec, micro)
}

/**
 * Parses a device timestamp. Accepted:
 * - the F2 naive form `2023-05-26 18:34:04.928538` and ISO 8601 with `T`, with or without
 *   seconds/fraction; naive values are wall-clock time in `zone` (IANA name, default UTC);
 *   `Z` or a `±HH:MM` / `±HHMM` / `±HH` offset overrides the zone;
 * - numbers and numeric strings: epoch seconds below 1e11, epoch milliseconds from 1e11 on.
 * Fractions are kept to the microsecond (string input exactly, rounded half up beyond 6
 * digits). Accepted range 1970-01-01 .. 9999-12-31 UTC. Everything else, including NaN,
 * Infinity, negative numbers and booleans, is F2_TIMESTAMP_INVALID. An unknown zone is
 * F2_CONFIG_INVALID (only consulted for naive input). Never throws.
 */
export function parseTimestamp (input: unknown, zone = 'UTC'): Result<DeviceTime> {
  if (typeof input === 'number') return fromNumber(input, input)
  if (typeof input !== 'string') return invalid('wrong-type', input)
  const s = input.trim()
  if (s.length === 0 || s.length > 64) return invalid('wrong-length', input)
  const num = NUMERIC_RE.exec(s)
  if (num !== null) return fromNumericString(num[1] as string, num[2] ?? '', input)
  const dt = DATETIME_RE.exec(s)
  if (dt !== null) return fromDateTime(dt, zone, input)
  return invalid('unrecognised-format', input)
}

function splitEpochMs (epochMs: number): { sec: number; micro: number } {
  let sec = Math.floor(epochMs / 1000)
  let micro = Math.round((epochMs - sec * 1000) * 1000)
  if (micro >= 1_000_000) { sec += 1; micro -= 1_000_000 }
  return { sec, micro }
}

/** ISO UTC with 6 fraction digits for an epoch-ms instant (e.g. a receipt time). */
export function formatIso (epochMs: number): string {
  const { sec, micro } = splitEpochMs(epochMs)
  const { date, time } = utcParts(sec)
  return `${date}T${time}.${String(micro).padStart(6, '0')}Z`
}

/**
 * The device's naive timestamp form (`2023-05-26 18:34:04.928538`) of an instant, as wall-clock
 * time in `zone`. Throws a RangeError for an unknown zone or a non-finite instant (programmer error).
 */
export function formatF2Timestamp (epochMs: number, zone = 'UTC'): string {
  if (!Number.isFinite(epochMs)) throw new RangeError('formatF2Timestamp: epochMs must be finite')
  const f = formatter(zone)
  if (f === null) throw new RangeError(`formatF2Timestamp: unknown time zone '${zone}'`)
  const { sec, micro } = splitEpochMs(epochMs)
  const { date, time } = utcParts(sec + (zone === 'UTC' ? 0 : offsetSeconds(f, sec)))
  return `${date} ${time}.${String(micro).padStart(6, '0')}`
}
