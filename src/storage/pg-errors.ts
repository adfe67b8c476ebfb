/**
 * Classifies errors from postgres.js: which mean "the database is not reachable or not
 * able to work right now" (retry later, never drop data) and which mean "this row's data
 * is refused" (isolate the row, keep the rest).
 */

/** The SQLSTATE of a server error, undefined for client-side and network errors. */
export function sqlState (err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const e = err as { name?: unknown; code?: unknown; severity?: unknown }
  if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && (e.name === 'PostgresError' || typeof e.severity === 'string')) return e.code
  return undefined
}

/**
 * SQLSTATE classes that say something about the data of a row: 22 data exception
 * (out of range, invalid text, bad encoding), 23 integrity constraint, 54 program limit
 * (e.g. an index row too large).
 */
export function isRowDataError (err: unknown): boolean {
  const state = sqlState(err)
  return state !== undefined && ['22', '23', '54'].includes(state.slice(0, 2))
}

/**
 * Everything that is not a server verdict on the data counts as unavailability:
 * network errors and errors without a SQLSTATE, connection exceptions (08), insufficient
 * resources (53), operator intervention such as shutdown (57), system errors (58),
 * internal errors (XX) and serialization failures / deadlocks (40).
 */
export function isUnavailableError (err: unknown): boolean {
  const state = sqlState(err)
  if (state === undefined) return true
  return ['08', '40', '53', '57', '58', 'XX'].includes(state.slice(0, 2))
}

/** A short, single-line description of a database error for logs and rejection records. */
export function describePgError (err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const state = sqlState(err)
  const e = err as Error & { detail?: unknown; code?: unknown }
  const parts = [state === undefined ? (typeof e.code === 'string' ? e.code : err.name) : state, err.message]
  if (typeof e.detail === 'string' && e.detail !== '') parts.push(e.detail)
  return parts.join(': ')
}
