import { describe, expect, it } from 'vitest'
import { ErrorCodes, isF2Error } from '../../../src/core/errors.ts'
import { createAuthenticator } from '../../../src/stages/api/auth.ts'
import type { StoredToken } from '../../../src/stages/api/token-store.ts'
import { bearerToken, generateToken, hashSecret, parseToken, secretMatches } from '../../../src/stages/api/tokens.ts'

describe('tokens', () => {
  it('are f2_<12 hex>_<43 base64url>, distinct, and only the secret\'s SHA-256 is kept', () => {
    const a = generateToken()
    const b = generateToken()
    expect(a.token).toMatch(/^f2_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/)
    expect(a.token).not.toBe(b.token)
    const parsed = parseToken(a.token)
    expect(parsed?.id).toBe(a.id)
    expect(a.secretHash).toEqual(hashSecret(parsed?.secret as string))
    expect(a.secretHash.length).toBe(32)
    expect(a.secretHash.toString('hex')).not.toContain(parsed?.secret)
  })

  it('parseToken refuses anything else', () => {
    for (const t of ['', 'f2_', 'f2_0123456789ab_short', 'x2_0123456789ab_' + 'a'.repeat(43), 'f2_0123456789AB_' + 'a'.repeat(43), 'f2_0123456789ab_' + 'a'.repeat(44)]) {
      expect(parseToken(t), t).toBeUndefined()
    }
  })

  it('bearerToken reads the Authorization header (scheme in any case)', () => {
    expect(bearerToken('Bearer abc')).toBe('abc')
    expect(bearerToken('bearer abc')).toBe('abc')
    expect(bearerToken('Basic abc')).toBeUndefined()
    expect(bearerToken('Bearer')).toBeUndefined()
    expect(bearerToken('Bearer a b')).toBeUndefined()
    expect(bearerToken(undefined)).toBeUndefined()
    expect(bearerToken(`Bearer ${'a'.repeat(300)}`)).toBeUndefined()
  })

  it('secretMatches compares hashes of equal length only', () => {
    const t = generateToken()
    const secret = parseToken(t.token)?.secret as string
    expect(secretMatches(secret, t.secretHash)).toBe(true)
    const changed = `${secret[0] === 'A' ? 'B' : 'A'}${secret.slice(1)}`
    expect(secretMatches(changed, t.secretHash)).toBe(false)
    expect(secretMatches(secret, t.secretHash.subarray(0, 16))).toBe(false)
  })
})

describe('createAuthenticator', () => {
  const good = generateToken()
  const revoked = generateToken()
  const other = generateToken()
  const table = new Map<string, StoredToken>([
    [good.id, { scopes: ['read'], secretHash: good.secretHash, revoked: false }],
    [revoked.id, { scopes: ['read'], secretHash: revoked.secretHash, revoked: true }],
    [other.id, { scopes: ['command'], secretHash: other.secretHash, revoked: false }]
  ])
  const touches: string[] = []
  let clock = 0
  const authenticate = createAuthenticator({
    lookup: async id => table.get(id),
    touch: async id => { touches.push(id) }
  }, { touchEveryMs: 1000, now: () => clock })

  async function failure (header: string | undefined): Promise<[string, unknown]> {
    try {
      await authenticate(header, 'read')
    } catch (err) {
      if (isF2Error(err)) return [err.code, err.details?.failure]
      throw err
    }
    throw new Error('expected a refusal')
  }

  it('accepts a valid token with the scope and records its use at most once per interval', async () => {
    expect(await authenticate(`Bearer ${good.token}`, 'read')).toBe(good.id)
    await authenticate(`Bearer ${good.token}`, 'read')
    clock = 1000
    await authenticate(`Bearer ${good.token}`, 'read')
    expect(touches).toEqual([good.id, good.id])
  })

  it('refuses missing, malformed, unknown, wrong-secret, revoked and out-of-scope tokens', async () => {
    const wrongSecret = `f2_${good.id}_${'A'.repeat(43)}`
    expect(await failure(undefined)).toEqual([ErrorCodes.API_UNAUTHORIZED, 'missing'])
    expect(await failure('Bearer nope')).toEqual([ErrorCodes.API_UNAUTHORIZED, 'invalid'])
    expect(await failure(`Bearer ${generateToken().token}`)).toEqual([ErrorCodes.API_UNAUTHORIZED, 'invalid'])
    expect(await failure(`Bearer ${wrongSecret}`)).toEqual([ErrorCodes.API_UNAUTHORIZED, 'invalid'])
    expect(await failure(`Bearer ${revoked.token}`)).toEqual([ErrorCodes.API_UNAUTHORIZED, 'revoked'])
    expect(await failure(`Bearer ${other.token}`)).toEqual([ErrorCodes.API_FORBIDDEN, 'scope'])
  })
})
