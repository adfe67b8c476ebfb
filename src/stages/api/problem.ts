import type { ServerResponse } from 'node:http'
import { sendJson } from '../../adapters/http.ts'
import { ErrorCodes, isF2Error, type ErrorCode } from '../../core/errors.ts'
import { isUnavailableError, sqlState } from '../../storage/pg-errors.ts'

/** HTTP status of each error code the API answers with; anything else is a 500. */
export const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  [ErrorCodes.API_PARAMETER_INVALID]: 400,
  [ErrorCodes.API_RANGE_TOO_LARGE]: 400,
  [ErrorCodes.COMMAND_INVALID]: 400,
  [ErrorCodes.COMMAND_TARGET_UNKNOWN]: 400,
  [ErrorCodes.API_UNAUTHORIZED]: 401,
  [ErrorCodes.API_FORBIDDEN]: 403,
  [ErrorCodes.API_NOT_FOUND]: 404,
  [ErrorCodes.API_METHOD_NOT_ALLOWED]: 405,
  [ErrorCodes.DB_UNAVAILABLE]: 503,
  [ErrorCodes.KAFKA_UNAVAILABLE]: 503,
  [ErrorCodes.REGISTRY_UNAVAILABLE]: 503,
  [ErrorCodes.API_INTERNAL]: 500
}

export interface Problem { status: number, code: ErrorCode, message: string, details?: Record<string, unknown> }

/** A server's "not now" (SQLSTATE class 08, 53, 57, …) or a socket/connect failure of postgres.js; not a bug of ours. */
function databaseUnavailable (err: unknown): boolean {
  if (sqlState(err) !== undefined) return isUnavailableError(err)
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^(E[A-Z]{3,}|CONNECT_TIMEOUT|CONNECTION_[A-Z_]+)$/.test(code)
}

/**
 * The answer for a failed request. Typed errors keep their code and message (they were
 * written for the client); a database that cannot be reached is a 503 with F2_DB_UNAVAILABLE;
 * anything else is a 500 whose message says nothing of the internals (it is logged instead).
 */
export function problemOf (err: unknown): Problem {
  if (isF2Error(err)) {
    const p: Problem = { status: STATUS_OF[err.code] ?? 500, code: err.code, message: err.message }
    if (err.details !== undefined) p.details = err.details
    return p
  }
  if (databaseUnavailable(err)) return { status: 503, code: ErrorCodes.DB_UNAVAILABLE, message: 'a database is not available; try again later' }
  return { status: 500, code: ErrorCodes.API_INTERNAL, message: 'internal error' }
}

export function sendProblem (res: ServerResponse, p: Problem): void {
  if (p.status === 401) res.setHeader('www-authenticate', 'Bearer realm="f2"')
  if (p.status === 405) res.setHeader('allow', typeof p.details?.allow === 'string' ? p.details.allow : 'GET, HEAD')
  if (p.status === 503) res.setHeader('retry-after', '5')
  sendJson(res, p.status, { error: { code: p.code, message: p.message, ...(p.details === undefined ? {} : { details: p.details }) } })
}
