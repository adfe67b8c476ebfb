import { ErrorCodes, F2Error } from '../../core/errors.ts'
import type { StoredToken } from './token-store.ts'
import { bearerToken, parseToken, secretMatches, type ApiScope } from './tokens.ts'

export interface TokenLookup {
  lookup: (id: string) => Promise<StoredToken | undefined>
  touch: (id: string) => Promise<void>
}

export type AuthFailure = 'missing' | 'invalid' | 'revoked' | 'scope'

/**
 * Checks `Authorization: Bearer <token>` against the token table on every request (a revoked
 * token fails at its next request) and that the token carries `scope`. Throws
 * F2_API_UNAUTHORIZED (401) or F2_API_FORBIDDEN (403), `details.failure` saying which check
 * failed. `last_used_at` is written at most once per `touchEveryMs` per token, off the request path.
 */
export function createAuthenticator (tokens: TokenLookup, options: { touchEveryMs?: number, now?: () => number, onTouchError?: (err: unknown) => void } = {}) {
  const touchEvery = options.touchEveryMs ?? 60_000
  const now = options.now ?? Date.now
  const touched = new Map<string, number>()
  const deny = (failure: AuthFailure, message: string): F2Error =>
    new F2Error(failure === 'scope' ? ErrorCodes.API_FORBIDDEN : ErrorCodes.API_UNAUTHORIZED, message, { details: { failure } })

  return async function authenticate (header: string | undefined, scope: ApiScope): Promise<string> {
    const token = bearerToken(header)
    if (token === undefined) throw deny('missing', 'a bearer token is required (Authorization: Bearer <token>)')
    const parsed = parseToken(token)
    const stored = parsed === undefined ? undefined : await tokens.lookup(parsed.id)
    if (parsed === undefined || stored === undefined || !secretMatches(parsed.secret, stored.secretHash)) throw deny('invalid', 'the bearer token is not valid')
    if (stored.revoked) throw deny('revoked', 'the bearer token has been revoked')
    if (!stored.scopes.includes(scope)) {
      const err = deny('scope', `the token lacks the scope "${scope}"`)
      Object.assign(err.details ?? {}, { required: scope })
      throw err
    }
    const last = touched.get(parsed.id)
    if (last === undefined || now() - last >= touchEvery) {
      touched.set(parsed.id, now())
      tokens.touch(parsed.id).catch((err: unknown) => { touched.delete(parsed.id); options.onTouchError?.(err) })
    }
    return parsed.id
  }
}
