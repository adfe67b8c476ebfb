import { z } from 'zod'
import { ErrorCodes } from './errors.ts'
import { fail, ok, type Result } from './result.ts'
import { isCanonicalInstant } from './iso-instant.ts'
import { parseTimestamp } from './timestamp.ts'

/** A decoded reading: the processor's output on `decoded_iot_data` and the sink's input. */
export type Measurement = {
  /** Device time, ISO UTC with 6 fraction digits. */
  timestamp: string
  device_id: string
  connector_mode: string
  datapoint_label: string
  pin_position: string
  value: number | null
  unit: string
  topic: string
  connector: number | null
  value_text: string | null
  sensor_device_id: number | null
  datapoint_id: number | null
  /** When the connector received the message, ISO UTC with 6 fraction digits. */
  received_at: string | null
}

/** Seed field aliases → canonical names. The canonical name wins when both are present. */
export const MEASUREMENT_ALIASES: Readonly<Record<string, keyof Measurement>> = {
  mac_address: 'device_id',
  mode: 'connector_mode',
  data_point_label: 'datapoint_label',
  pin: 'pin_position',
  original_topic: 'topic'
}

function applyAliases (input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input
  const out: Record<string, unknown> = { ...(input as Record<string, unknown>) }
  for (const [alias, name] of Object.entries(MEASUREMENT_ALIASES)) {
    if (out[name] === undefined && out[alias] !== undefined) out[name] = out[alias]
    delete out[alias]
  }
  return out
}

const LEADING_NUMBER_RE = /^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/

function instant (required: boolean) {
  return z.unknown().optional().transform((v, ctx): string | null => {
    if (!required && (v === undefined || v === null)) return null
    const r = parseTimestamp(v, 'UTC')
    if (r.ok) return r.value.iso
    ctx.addIssue({ code: 'custom', message: r.error.message })
    return z.NEVER
  })
}

const text = (fallback: string) => z.string().nullish().transform(v => v ?? fallback)
const optionalInt = z.int().nullish().transform(v => v ?? null)

/**
 * The seed's IotMeasurement, extended. Input aliases: `mac_address`, `mode`,
 * `data_point_label`, `pin`, `original_topic`. `timestamp` (required) and `received_at`
 * accept what parseTimestamp accepts, naive forms read as UTC — an unparseable timestamp is
 * a validation error, never "now". `value`: a finite number, a boolean (1/0), or the leading
 * number of a string (`"27.93 °C"` → 27.93); other strings and null give null; non-finite
 * numbers are invalid. `pin_position` is always a string (numbers are converted). Unknown
 * keys are dropped.
 */
export const IotMeasurementSchema = z.preprocess(applyAliases, z.object({
  timestamp: instant(true).transform(v => v as string),
  device_id: z.string().trim().min(1).max(255),
  connector_mode: text('unknown'),
  datapoint_label: text('unknown'),
  pin_position: z.union([z.string(), z.number().finite()]).nullish().transform(v => v === undefined || v === null ? '-1' : String(v)),
  value: z.unknown().optional().transform((v, ctx): number | null => {
    let n: number | null = null
    if (typeof v === 'number') n = v
    else if (typeof v === 'boolean') n = v ? 1 : 0
    else if (typeof v === 'string') {
      const m = LEADING_NUMBER_RE.exec(v)
      n = m === null ? null : Number(m[0])
    }
    if (n !== null && !Number.isFinite(n)) {
      ctx.addIssue({ code: 'custom', message: 'value must be finite' })
      return z.NEVER
    }
    return n
  }),
  unit: text(''),
  topic: text(''),
  connector: z.int().min(1).max(5).nullish().transform(v => v ?? null),
  value_text: z.string().nullish().transform(v => v ?? null),
  sensor_device_id: optionalInt,
  datapoint_id: optionalInt,
  received_at: instant(false)
}))

// Compile-time guard: the schema's output is exactly Measurement.
const _sameShape: z.output<typeof IotMeasurementSchema> extends Measurement ? (Measurement extends z.output<typeof IotMeasurementSchema> ? true : never) : never = true
void _sameShape

const ALIAS_KEYS = Object.keys(MEASUREMENT_ALIASES)

function nullishText<F extends string | null> (v: unknown, fallback: F): string | F | undefined {
  if (typeof v === 'string') return v
  return v === undefined || v === null ? fallback : undefined
}

function nullishInt (v: unknown, min: number, max: number): number | null | undefined {
  if (v === undefined || v === null) return null
  return Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max ? v as number : undefined
}

/**
 * The schema's result for the inputs the pipeline itself produces (canonical field types,
 * canonical instants, no aliases), computed without zod; `undefined` whenever the input is
 * anything else, and the schema decides. Where it answers, it answers exactly as the schema
 * (test/core/measurement-fast.unit.test.ts compares both on random input).
 */
export function fastParseMeasurement (input: unknown): Measurement | undefined {
  if (typeof input !== 'object' || input === null) return undefined
  const proto = Object.getPrototypeOf(input)
  if (proto !== Object.prototype && proto !== null) return undefined
  const o = input as Record<string, unknown>
  for (const alias of ALIAS_KEYS) if (o[alias] !== undefined) return undefined
  const { timestamp, device_id: deviceId, pin_position: pin, value, received_at: receivedAt } = o
  if (typeof timestamp !== 'string' || !isCanonicalInstant(timestamp)) return undefined
  if (typeof deviceId !== 'string' || deviceId.length === 0 || deviceId.length > 255 || deviceId.trim() !== deviceId) return undefined
  const connectorMode = nullishText(o.connector_mode, 'unknown')
  const label = nullishText(o.datapoint_label, 'unknown')
  const unit = nullishText(o.unit, '')
  const topic = nullishText(o.topic, '')
  const valueText = nullishText(o.value_text, null)
  if (connectorMode === undefined || label === undefined || unit === undefined || topic === undefined || valueText === undefined) return undefined
  let pinPosition: string
  if (typeof pin === 'string') pinPosition = pin
  else if (typeof pin === 'number' && Number.isFinite(pin)) pinPosition = String(pin)
  else if (pin === undefined || pin === null) pinPosition = '-1'
  else return undefined
  let n: number | null
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return undefined
    n = value
  } else if (typeof value === 'boolean') n = value ? 1 : 0
  else if (value === undefined || value === null) n = null
  else return undefined
  const connector = nullishInt(o.connector, 1, 5)
  const sensorDeviceId = nullishInt(o.sensor_device_id, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)
  const datapointId = nullishInt(o.datapoint_id, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)
  if (connector === undefined || sensorDeviceId === undefined || datapointId === undefined) return undefined
  let received: string | null = null
  if (receivedAt !== undefined && receivedAt !== null) {
    if (typeof receivedAt !== 'string' || !isCanonicalInstant(receivedAt)) return undefined
    received = receivedAt
  }
  return {
    timestamp,
    device_id: deviceId,
    connector_mode: connectorMode,
    datapoint_label: label,
    pin_position: pinPosition,
    value: n,
    unit,
    topic,
    connector,
    value_text: valueText,
    sensor_device_id: sensorDeviceId,
    datapoint_id: datapointId,
    received_at: received
  }
}

/**
 * Validates and normalises a measurement (F2_MEASUREMENT_INVALID with every issue in
 * `details.issues`). IotMeasurementSchema is the definition; the common case is answered
 * by fastParseMeasurement, which gives the same result without zod's cost.
 */
export function parseMeasurement (input: unknown): Result<Measurement> {
  const fast = fastParseMeasurement(input)
  if (fast !== undefined) return ok(fast)
  const r = IotMeasurementSchema.safeParse(input)
  if (r.success) return ok(r.data)
  const issues = r.error.issues.map(i => ({ path: i.path.map(String).join('.'), message: i.message }))
  return fail(ErrorCodes.MEASUREMENT_INVALID, `invalid measurement: ${issues.map(i => `${i.path}: ${i.message}`).join('; ')}`, { issues })
}
