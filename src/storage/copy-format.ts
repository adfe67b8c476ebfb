import { MEASUREMENT_COLUMN_SPECS, storedNull, type ColumnSpec, type Measurement, type SqlType } from '../core/measurement-columns.ts'

/**
 * Pure helpers of the time-series writer, derived from the column declaration
 * (src/core/measurement-columns.ts): pre-validation of rows and their encoding in COPY text
 * format.
 */

/** COPY column order (= the declaration's). */
export { MEASUREMENT_COLUMNS } from '../core/measurement-columns.ts'

const NULLS_STORED_AS: ReadonlyArray<readonly [string, string | number]> = MEASUREMENT_COLUMN_SPECS.flatMap((c: ColumnSpec) => {
  const stored = storedNull(c)
  return stored === null ? [] : [[c.name, stored] as const]
})

/** The row as stored: null fields of NOT NULL columns replaced by the column's default (as copyLine writes them). */
export function withStoredNulls (m: Measurement): Record<string, unknown> {
  const out: Record<string, unknown> = { ...m }
  for (const [name, stored] of NULLS_STORED_AS) if (out[name] === null || out[name] === undefined) out[name] = stored
  return out
}

/** PostgreSQL timestamptz covers 4713 BC .. 294276 AD; JavaScript dates stop earlier at both ends. */
const MIN_PG_TIME = Date.UTC(-4712, 0, 1)

/** The integer range of each integer SQL type. */
const INT_RANGE: Partial<Record<SqlType, readonly [number, number]>> = {
  smallint: [-32768, 32767],
  integer: [-2147483648, 2147483647]
}

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

function valueProblem (v: unknown, name: string, required: boolean): string | null {
  if (v === null || v === undefined) return required ? `${name} is missing` : null
  return typeof v !== 'number' || !Number.isFinite(v) ? `${name} is not a finite number` : null
}

/** The check of one column, as source: a call of the check of its SQL type. */
function problemSource (c: ColumnSpec): string {
  // NOT NULL columns whose field may be null store their default instead.
  const required = c.notNull && storedNull(c) === null
  const args = `m[${JSON.stringify(c.name)}], ${JSON.stringify(c.name)}`
  switch (c.sql) {
    case 'timestamptz':
      return `instantProblem(${args}, ${required})`
    case 'text':
      return `textProblem(${args}, ${required})`
    case 'double precision':
      return `valueProblem(${args}, ${required})`
    case 'smallint':
    case 'integer': {
      const [min, max] = INT_RANGE[c.sql] as readonly [number, number]
      return required ? `(m[${JSON.stringify(c.name)}] == null ? ${JSON.stringify(`${c.name} is missing`)} : intProblem(${args}, ${min}, ${max}))` : `intProblem(${args}, ${min}, ${max})`
    }
  }
}

/**
 * The checks written out from the declaration as one chain of calls with named fields (what
 * a hand-written one would be; this runs for every row). Names and constants enter the source
 * only through JSON.stringify.
 */
function compileProblem (specs: readonly ColumnSpec[]): (m: Measurement) => string | null {
  // The source is built from the constant declaration only, never from input.
  return new Function('instantProblem', 'textProblem', 'valueProblem', 'intProblem',
    `return function columnsProblem (m) {\n  return ${specs.map(problemSource).join(' ??\n    ')}\n}`
  )(instantProblem, textProblem, valueProblem, intProblem) as (m: Measurement) => string | null
}

const columnsProblem = compileProblem(MEASUREMENT_COLUMN_SPECS)

/**
 * Why the database would refuse `m`, as far as can be told without asking it; null when
 * it looks storable. Non-finite values are refused too: PostgreSQL would store NaN and
 * Infinity, but they poison every aggregate over the column.
 */
export function measurementProblem (m: Measurement): string | null {
  if (typeof m !== 'object' || m === null) return 'not an object'
  return columnsProblem(m)
}

const ESCAPED = /[\\\n\r\t]/
const ESCAPED_ALL = /[\\\n\r\t]/g

function escapeChar (c: string): string {
  return c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'
}

/**
 * One field in COPY text format: `\N` for null; backslash, newline, carriage return and
 * tab escaped. (NUL cannot be sent at all; measurementProblem refuses it first.)
 */
export function copyField (v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '\\N'
  if (typeof v === 'number') return String(v)
  return ESCAPED.test(v) ? v.replace(ESCAPED_ALL, escapeChar) : v
}

/**
 * The COPY line encoder, written out from the declaration as one concatenation of named
 * fields (the straight-line code a hand-written one would be). Names and constants enter the
 * source only through JSON.stringify.
 */
function compileCopyLine (specs: readonly ColumnSpec[]): (m: Measurement) => string {
  const fields = specs.map(c => {
    const nullAs = storedNull(c)
    const read = `m[${JSON.stringify(c.name)}]`
    return `copyField(${nullAs === null ? read : `${read} ?? ${JSON.stringify(nullAs)}`})`
  })
  // The source is built from the constant declaration only, never from input.
  return new Function('copyField', `return function copyLine (m) {\n  return ${fields.join(" + '\\t' + ")} + '\\n'\n}`)(copyField) as (m: Measurement) => string
}

/** One measurement as a COPY text line (with its newline), columns as MEASUREMENT_COLUMNS. */
export const copyLine: (m: Measurement) => string = compileCopyLine(MEASUREMENT_COLUMN_SPECS)
