import type { Measurement } from '../core/measurement.ts'

/**
 * Pure helpers of the time-series writer: the staging columns, pre-validation of rows
 * and their encoding in COPY text format.
 */

/** Staging / COPY column order. `connector` null is stored as 0 (unknown). */
export const MEASUREMENT_COLUMNS = [
  'timestamp', 'device_id', 'connector_mode', 'datapoint_label', 'pin_position', 'value', 'unit', 'topic',
  'connector', 'value_text', 'sensor_device_id', 'datapoint_id', 'received_at'
] as const

/** PostgreSQL timestamptz covers 4713 BC .. 294276 AD; JavaScript dates stop earlier at both ends. */
const MIN_PG_TIME = Date.UTC(-4712, 0, 1)

const INT16_MAX = 32767
const INT32_MAX = 2147483647

function instantProblem (v: unknown, name: string, required: boolean): string | null {
  if (v === null || v === undefined) return required ? `${name} is missing` : null
  if (typeof v !== 'string') return `${name} is not a string`
  const t = Date.parse(v)
  if (Number.isNaN(t)) return `${name} '${v.slice(0, 40)}' is not a timestamp`
  if (t < MIN_PG_TIME) return `${name} '${v.slice(0, 40)}' is before 4713 BC`
  return null
}

function textProblem (v: unknown, name: string, required: boolean): string | null {
  if (v === null || v === undefined) return required ? `${name} is missing` : null
  if (typeof v !== 'string') return `${name} is not a string`
  // PostgreSQL text cannot hold U+0000.
  if (v.includes('\u0000')) return `${name} contains a NUL character`
  return null
}

function intProblem (v: unknown, name: string, min: number, max: number): string | null {
  if (v === null || v === undefined) return null
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) return `${name} is not an integer in ${min}..${max}`
  return null
}

/**
 * Why the database would refuse `m`, as far as can be told without asking it; null when
 * it looks storable. Non-finite values are refused too: PostgreSQL would store NaN and
 * Infinity, but they poison every aggregate over the column.
 */
export function measurementProblem (m: Measurement): string | null {
  if (typeof m !== 'object' || m === null) return 'not an object'
  return instantProblem(m.timestamp, 'timestamp', true) ??
    textProblem(m.device_id, 'device_id', true) ??
    textProblem(m.connector_mode, 'connector_mode', true) ??
    textProblem(m.datapoint_label, 'datapoint_label', true) ??
    textProblem(m.pin_position, 'pin_position', true) ??
    textProblem(m.unit, 'unit', false) ??
    textProblem(m.topic, 'topic', false) ??
    textProblem(m.value_text, 'value_text', false) ??
    (m.value !== null && m.value !== undefined && (typeof m.value !== 'number' || !Number.isFinite(m.value)) ? 'value is not a finite number' : null) ??
    intProblem(m.connector, 'connector', 0, INT16_MAX) ??
    intProblem(m.sensor_device_id, 'sensor_device_id', -INT32_MAX - 1, INT32_MAX) ??
    intProblem(m.datapoint_id, 'datapoint_id', -INT32_MAX - 1, INT32_MAX) ??
    instantProblem(m.received_at, 'received_at', false)
}

/**
 * One field in COPY text format: `\N` for null; backslash, newline, carriage return and
 * tab escaped. (NUL cannot be sent at all; measurementProblem refuses it first.)
 */
export function copyField (v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '\\N'
  if (typeof v === 'number') return String(v)
  return v.replace(/[\\\n\r\t]/g, c => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'))
}

/** One measurement as a COPY text line (with its newline), columns as MEASUREMENT_COLUMNS. */
export function copyLine (m: Measurement): string {
  return [
    copyField(m.timestamp), copyField(m.device_id), copyField(m.connector_mode), copyField(m.datapoint_label),
    copyField(m.pin_position), copyField(m.value), copyField(m.unit), copyField(m.topic),
    copyField(m.connector ?? 0), copyField(m.value_text), copyField(m.sensor_device_id), copyField(m.datapoint_id),
    copyField(m.received_at)
  ].join('\t') + '\n'
}
