import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * Bearer tokens of the read API: `f2_<id>_<secret>`, the id 12 hex digits (public: it names
 * the token in `token list` and `token revoke`), the secret 32 random bytes in base64url.
 * Only SHA-256(secret) is stored. A fast hash is enough because the secret has 256 bits of
 * entropy: there is nothing to guess, so the slowness of bcrypt/scrypt (which protects short
 * human passwords) would only cost CPU on every request (docs/api/README.md, "Tokens").
 */

/** Scopes a token can carry; a route names the one it needs (`command`: send cloud-to-device commands). */
export const API_SCOPES = ['read', 'command'] as const
export type ApiScope = (typeof API_SCOPES)[number]

const TOKEN_RE = /^f2_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/

export interface NewToken {
  /** The whole token, to be shown once. */
  token: string
  id: string
  secretHash: Buffer
}

export function generateToken (): NewToken {
  const id = randomBytes(6).toString('hex')
  const secret = randomBytes(32).toString('base64url')
  return { token: `f2_${id}_${secret}`, id, secretHash: hashSecret(secret) }
}

export function hashSecret (secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest()
}

/** Splits a token into its id and secret; undefined when it is not shaped like one. */
export function parseToken (token: string): { id: string, secret: string } | undefined {
  const m = TOKEN_RE.exec(token)
  return m === null ? undefined : { id: m[1] as string, secret: m[2] as string }
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 6750). */
export function bearerToken (header: string | undefined): string | undefined {
  if (header === undefined || header.length > 200) return undefined
  const m = /^Bearer +(\S+) *$/i.exec(header)
  return m?.[1]
}

/** SHA-256 of `secret` equals `storedHash`, compared in constant time. */
export function secretMatches (secret: string, storedHash: Uint8Array): boolean {
  const hash = hashSecret(secret)
  return storedHash.length === hash.length && timingSafeEqual(hash, storedHash)
}

export function isScope (value: string): value is ApiScope {
  return (API_SCOPES as readonly string[]).includes(value)
}
