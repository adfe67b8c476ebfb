import { z } from 'zod'
import { ErrorCodes } from './errors.ts'
import { fail, ok, type Result } from './result.ts'
import { isCanonicalInstant } from './iso-instant.ts'
import { fieldDefault, MEASUREMENT_ALIASES, MEASUREMENT_COLUMN_SPECS, type ColumnSpec, type Measurement } from './measurement-columns.ts'
import { parseTimestamp } from './timestamp.ts'

export { MEASUREMENT_ALIASES, type Measurement } from './measurement-columns.ts'

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

function instant (required: boolean): z.ZodType<string | null> {
  return z.unknown().optional().transform((v, ctx): string | null => {
    if (!required && (v === undefined || v === null)) return null
    const r = parseTimestamp(v, 'UTC')
    if (r.ok) return r.value.iso
    ctx.addIssue({ code: 'custom', message: r.error.message })
    return z.NEVER
  })
}

const finiteValue = z.unknown().optional().transform((v, ctx): number | null => {
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
})

/** The zod type of one field, from its column declaration. */
function fieldSchema (c: ColumnSpec): z.ZodType {
  const fallback = fieldDefault(c)
  switch (c.kind) {
    case 'instant':
      return instant(!c.nullable)
    case 'number':
      return finiteValue
    case 'int': {
      let n = z.int()
      if (c.min !== undefined) n = n.min(c.min)
      if (c.max !== undefined) n = n.max(c.max)
      return n.nullish().transform(v => v ?? null)
    }
    case 'label':
      return z.union([z.string(), z.number().finite()]).nullish().transform(v => v === undefined || v === null ? fallback : String(v))
    case 'text':
      if (c.maxLength !== undefined) return z.string().trim().min(1).max(c.maxLength)
      return z.string().nullish().transform(v => v ?? fallback)
  }
}

/**
 * The seed's IotMeasurement, extended; its fields are MEASUREMENT_COLUMN_SPECS. Input aliases:
 * `mac_address`, `mode`, `data_point_label`, `pin`, `original_topic`. `timestamp` (required)
 * and `received_at` accept what parseTimestamp accepts, naive forms read as UTC — an
 * unparseable timestamp is a validation error, never "now". `value`: a finite number, a
 * boolean (1/0), or the leading number of a string (`"27.93 °C"` → 27.93); other strings and
 * null give null; non-finite numbers are invalid. `pin_position` is always a string (numbers
 * are converted). Unknown keys are dropped.
 */
export const IotMeasurementSchema: z.ZodType<Measurement> = z.preprocess(applyAliases, z.object(
  Object.fromEntries(MEASUREMENT_COLUMN_SPECS.map(c => [c.name, fieldSchema(c)]))
)) as unknown as z.ZodType<Measurement>

const ALIAS_KEYS = Object.keys(MEASUREMENT_ALIASES)

/**
 * The statements that read field `i` into `v<i>`, or return undefined (the schema decides),
 * written out from the column's declaration: the compiled parser is the same straight-line
 * code a hand-written one would be (named property loads, one object literal, no per-row
 * closures). Names and constants enter the source only through JSON.stringify.
 */
function fieldSource (c: ColumnSpec, i: number): string {
  const v = `v${i}`
  const read = `let ${v} = o[${JSON.stringify(c.name)}]`
  const nullish = `(${v} === undefined || ${v} === null)`
  const fallback = JSON.stringify(fieldDefault(c))
  switch (c.kind) {
    case 'instant':
      return c.nullable
        ? `${read}; if (${nullish}) ${v} = null; else if (typeof ${v} !== 'string' || !isCanonicalInstant(${v})) return undefined`
        : `${read}; if (typeof ${v} !== 'string' || !isCanonicalInstant(${v})) return undefined`
    case 'text':
      if (c.maxLength !== undefined) {
        return `${read}; if (typeof ${v} !== 'string' || ${v}.length === 0 || ${v}.length > ${c.maxLength} || ${v}.trim() !== ${v}) return undefined`
      }
      return `${read}; if (typeof ${v} !== 'string') { if (${nullish}) ${v} = ${fallback}; else return undefined }`
    case 'label':
      return `${read}; if (typeof ${v} !== 'string') { if (typeof ${v} === 'number' && Number.isFinite(${v})) ${v} = String(${v}); else if (${nullish}) ${v} = ${fallback}; else return undefined }`
    case 'number':
      return `${read}; if (typeof ${v} === 'number') { if (!Number.isFinite(${v})) return undefined } else if (typeof ${v} === 'boolean') ${v} = ${v} ? 1 : 0; else if (${nullish}) ${v} = null; else return undefined`
    case 'int':
      return `${read}; if (${nullish}) ${v} = null; else if (!Number.isSafeInteger(${v}) || ${v} < ${c.min ?? Number.MIN_SAFE_INTEGER} || ${v} > ${c.max ?? Number.MAX_SAFE_INTEGER}) return undefined`
  }
}

function compileFastParser (specs: readonly ColumnSpec[]): (o: Record<string, unknown>) => Measurement | undefined {
  const body = [
    ...specs.map(fieldSource),
    `return { ${specs.map((c, i) => `${JSON.stringify(c.name)}: v${i}`).join(', ')} }`
  ].join('\n')
  // The source is built from the constant declaration only, never from input.
  return new Function('isCanonicalInstant', `return function fastFields (o) {\n${body}\n}`)(isCanonicalInstant) as (o: Record<string, unknown>) => Measurement | undefined
}

const fastFields = compileFastParser(MEASUREMENT_COLUMN_SPECS)

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
  return fastFields(o)
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
