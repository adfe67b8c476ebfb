import net from 'node:net'
import postgres from 'postgres'
import type { PostgresConnection } from '../adapters/connections/postgres.ts'

/**
 * Where a PostgreSQL database is (read from the environment by src/adapters/connections/postgres.ts);
 * a `postgres://` URL is accepted wherever this is.
 */
export type PgTarget = string | PostgresConnection

/**
 * A TCP socket with Nagle's algorithm off. postgres.js leaves it on, and COPY ends with
 * a small CopyDone message written after the data: Nagle holds it back until the server
 * acknowledges the data, which the server delays (delayed ACK), adding ~40 ms to every
 * COPY. The socket is handed over while still connecting (writes are buffered until it
 * is), so postgres.js' own handling of connect errors, connect_timeout and reconnects
 * stays in charge.
 */
function noDelaySocket (host: string, port: number): () => net.Socket {
  return () => net.connect({ host, port, noDelay: true })
}

/**
 * Opens a postgres.js pool with TCP_NODELAY (see noDelaySocket) for a single TCP host.
 * Server notices are dropped unless `onnotice` is given (postgres.js would print them).
 */
export function connect (target: PgTarget, options: postgres.Options<Record<string, postgres.PostgresType>> = {}): postgres.Sql {
  let host: string
  let port: number
  let base: postgres.Options<Record<string, postgres.PostgresType>>
  if (typeof target === 'string') {
    const url = new URL(target)
    host = decodeURIComponent(url.hostname.replace(/^\[|\]$/g, ''))
    port = url.port === '' ? 5432 : Number(url.port)
    base = { onnotice: () => {}, ...options }
  } else {
    host = target.host
    port = target.port
    base = { onnotice: () => {}, ...options, host: target.host, port: target.port, database: target.database, username: target.user, password: target.password }
  }
  // Unix sockets and multi-host URLs (no Nagle there / failover logic) keep postgres.js' own socket.
  // (`socket` is a runtime option of postgres.js its typings do not declare.)
  const withSocket = base as { socket?: () => net.Socket }
  const tcp = host !== '' && !host.startsWith('/') && !host.includes(',') && withSocket.socket === undefined
  if (tcp) withSocket.socket = noDelaySocket(host, port)
  return typeof target === 'string' ? postgres(target, base) : postgres(base)
}

/** A URL for `target` with the password masked, for logs and error messages. */
export function describeTarget (target: PgTarget): string {
  if (typeof target !== 'string') return `postgres://${target.user}@${target.host}:${target.port}/${target.database}`
  try {
    const u = new URL(target)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return '<invalid url>'
  }
}
