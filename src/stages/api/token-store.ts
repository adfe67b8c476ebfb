import type postgres from 'postgres'
import { ErrorCodes, F2Error } from '../../core/errors.ts'
import { generateToken, isScope, type ApiScope } from './tokens.ts'

/** A token as listed (never its secret or hash). */
export interface TokenInfo {
  id: string
  name: string
  scopes: string[]
  createdAt: Date
  revokedAt: Date | null
  lastUsedAt: Date | null
}

export interface StoredToken { scopes: string[], secretHash: Uint8Array, revoked: boolean }

/** The `api_tokens` table of the registry database (sql/registry/006_api_tokens.sql). */
export class TokenStore {
  readonly #sql: postgres.Sql

  constructor (sql: postgres.Sql) {
    this.#sql = sql
  }

  /** Creates a token; the returned `token` is the only copy of its secret. */
  async create (name: string, scopes: readonly string[]): Promise<{ id: string, token: string }> {
    const trimmed = name.trim()
    if (trimmed.length < 1 || trimmed.length > 100 || /\p{Cc}/u.test(trimmed)) {
      throw new F2Error(ErrorCodes.API_TOKEN_INVALID_CHANGE, 'a token name has 1 to 100 printable characters')
    }
    const unknown = scopes.filter(s => !isScope(s))
    if (scopes.length === 0 || unknown.length > 0) {
      throw new F2Error(ErrorCodes.API_TOKEN_INVALID_CHANGE, `unknown scope ${unknown.join(', ') || '(none given)'}`, { details: { unknown } })
    }
    const t = generateToken()
    const unique = [...new Set(scopes)] as ApiScope[]
    await this.#sql`INSERT INTO api_tokens (token_id, name, secret_hash, scopes) VALUES (${t.id}, ${trimmed}, ${t.secretHash}, ${unique})`
    return { id: t.id, token: t.token }
  }

  async list (): Promise<TokenInfo[]> {
    const rows = await this.#sql<Array<{ id: string, name: string, scopes: string[], created_at: Date, revoked_at: Date | null, last_used_at: Date | null }>>`
      SELECT token_id AS id, name, scopes, created_at, revoked_at, last_used_at FROM api_tokens ORDER BY created_at, token_id`
    return rows.map(r => ({ id: r.id, name: r.name, scopes: r.scopes, createdAt: r.created_at, revokedAt: r.revoked_at, lastUsedAt: r.last_used_at }))
  }

  /** Revokes a token at once (the API checks every request); false when it was already revoked. */
  async revoke (id: string): Promise<boolean> {
    const rows = await this.#sql<Array<{ was_revoked: boolean }>>`
      UPDATE api_tokens t SET revoked_at = coalesce(t.revoked_at, now())
      FROM api_tokens old WHERE old.token_id = t.token_id AND t.token_id = ${id}
      RETURNING old.revoked_at IS NOT NULL AS was_revoked`
    const row = rows[0]
    if (row === undefined) throw new F2Error(ErrorCodes.API_NOT_FOUND, `no token with id ${id}`, { details: { id } })
    return !row.was_revoked
  }

  async lookup (id: string): Promise<StoredToken | undefined> {
    const [row] = await this.#sql<Array<{ scopes: string[], secret_hash: Uint8Array, revoked: boolean }>>`
      SELECT scopes, secret_hash, revoked_at IS NOT NULL AS revoked FROM api_tokens WHERE token_id = ${id}`
    return row === undefined ? undefined : { scopes: row.scopes, secretHash: row.secret_hash, revoked: row.revoked }
  }

  async touch (id: string): Promise<void> {
    await this.#sql`UPDATE api_tokens SET last_used_at = now() WHERE token_id = ${id}`
  }
}
