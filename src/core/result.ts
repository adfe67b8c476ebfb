import type { ErrorCode } from './errors.ts'

/** A typed failure: match on `code`; `details` carries machine-readable context (JSON-safe). */
export type Failure = { code: ErrorCode; message: string; details?: Record<string, unknown> }

/** The outcome of a pure function that never throws for bad input. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: Failure }

export function ok<T> (value: T): { ok: true; value: T } {
  return { ok: true, value }
}

export function fail (code: ErrorCode, message: string, details?: Record<string, unknown>): { ok: false; error: Failure } {
  return details === undefined
    ? { ok: false, error: { code, message } }
    : { ok: false, error: { code, message, details } }
}

/** Builds a bare Failure (for lists of failures that are not Results). */
export function failure (code: ErrorCode, message: string, details?: Record<string, unknown>): Failure {
  return fail(code, message, details).error
}
