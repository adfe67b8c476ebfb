import type postgres from 'postgres'
import type { PostgresConnection } from '../../../src/adapters/connections/postgres.ts'
import { createLogger } from '../../../src/adapters/logger.ts'
import { loadApiConfig } from '../../../src/stages/api/config.ts'
import { createApiService, type ApiService } from '../../../src/stages/api/service.ts'
import { hashSecret } from '../../../src/stages/api/tokens.ts'
import { stackEnv } from '../../../harness/stack.ts'

/** A PostgreSQL URL as the seed's host/port/db/user/password group. */
export function pgConnection (url: string): PostgresConnection {
  const u = new URL(url)
  return { host: u.hostname, port: Number(u.port), database: u.pathname.slice(1), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) }
}

/** The real API service on a free loopback port over the given databases. */
export async function startApi (registryUrl: string, timeseriesUrl: string, extra: Record<string, string> = {}): Promise<{ service: ApiService, base: string }> {
  const env: Record<string, string> = { HTTP_PORT: '0', KAFKA_BOOTSTRAP_SERVERS: stackEnv().kafkaBootstrap, ...extra }
  for (const [prefix, url] of [['POSTGRES', registryUrl], ['TIMESCALE', timeseriesUrl]] as const) {
    const c = pgConnection(url)
    Object.assign(env, { [`${prefix}_HOST`]: c.host, [`${prefix}_PORT`]: String(c.port), [`${prefix}_DB`]: c.database, [`${prefix}_USER`]: c.user, [`${prefix}_PASSWORD`]: c.password })
  }
  const service = createApiService(loadApiConfig(env), createLogger('api', 'silent'))
  await service.start()
  return { service, base: `http://127.0.0.1:${service.port()}` }
}

/** A token row written directly, for scopes `token create` does not hand out yet. */
export async function insertToken (sql: postgres.Sql, id: string, secret: string, scopes: string[]): Promise<string> {
  await sql`INSERT INTO api_tokens (token_id, name, secret_hash, scopes) VALUES (${id}, ${'direct'}, ${hashSecret(secret)}, ${scopes})`
  return `f2_${id}_${secret}`
}

export interface Answer { status: number, headers: Headers, text: string, json: unknown }

export async function get (url: string, init: { token?: string, accept?: string, method?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {}
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`
  if (init.accept !== undefined) headers.accept = init.accept
  const res = await fetch(url, { method: init.method ?? 'GET', headers })
  const text = await res.text()
  let json: unknown
  if (text !== '' && (res.headers.get('content-type') ?? '').startsWith('application/json')) json = JSON.parse(text)
  return { status: res.status, headers: res.headers, text, json }
}
