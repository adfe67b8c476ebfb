import net from 'node:net'
import postgres from 'postgres'
import { ErrorCodes, F2Error } from '../core/errors.ts'
import { DB_ROLES } from './roles.ts'

/** Where a PostgreSQL database is; a `postgres://` URL is accepted wherever this is. */
export interface PgConnectionConfig {
  host: string
  port: number
  database: string
  user: string
  password: string
}

export type PgTarget = string | PgConnectionConfig

type Env = Record<string, string | undefined>

function fromEnv (env: Env, prefix: string, defaults: Omit<PgConnectionConfig, 'password'>): PgConnectionConfig {
  const port = Number(env[`${prefix}_PORT`] ?? defaults.port)
  const password = env[`${prefix}_PASSWORD`]
  // No default password: a well-known one would be tried against every server this reaches.
  if (password === undefined || password === '') {
    throw new F2Error(ErrorCodes.CONFIG_INVALID, `${prefix}_PASSWORD is not set (there is no default password; ` +
      'for the native stack: eval "$(npm run -s db -- env)", see docs/operations/deployment-security.md)', { details: { variable: `${prefix}_PASSWORD` } })
  }
  return {
    host: env[`${prefix}_HOST`] ?? defaults.host,
    port: Number.isInteger(port) && port > 0 ? port : defaults.port,
    database: env[`${prefix}_DB`] ?? defaults.database,
    user: env[`${prefix}_USER`] ?? defaults.user,
    password
  }
}

/** The registry database from POSTGRES_HOST/PORT/DB/USER/PASSWORD (the seed's names), as its owner by default. For command-line entry points. */
export function registryConfigFromEnv (env: Env = process.env): PgConnectionConfig {
  return fromEnv(env, 'POSTGRES', { host: '127.0.0.1', port: 5432, database: 'device_params', user: DB_ROLES.registry.owner })
}

/** The time-series database from TIMESCALE_HOST/PORT/DB/USER/PASSWORD (the seed's names), as its owner by default. For command-line entry points. */
export function timeseriesConfigFromEnv (env: Env = process.env): PgConnectionConfig {
  return fromEnv(env, 'TIMESCALE', { host: '127.0.0.1', port: 5433, database: 'timeseries', user: DB_ROLES.timeseries.owner })
}

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
