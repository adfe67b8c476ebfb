import postgres from 'postgres'

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

function fromEnv (env: Env, prefix: string, defaults: PgConnectionConfig): PgConnectionConfig {
  const port = Number(env[`${prefix}_PORT`] ?? defaults.port)
  return {
    host: env[`${prefix}_HOST`] ?? defaults.host,
    port: Number.isInteger(port) && port > 0 ? port : defaults.port,
    database: env[`${prefix}_DB`] ?? defaults.database,
    user: env[`${prefix}_USER`] ?? defaults.user,
    password: env[`${prefix}_PASSWORD`] ?? defaults.password
  }
}

/** The registry database from POSTGRES_HOST/PORT/DB/USER/PASSWORD (the seed's names). For command-line entry points. */
export function registryConfigFromEnv (env: Env = process.env): PgConnectionConfig {
  return fromEnv(env, 'POSTGRES', { host: '127.0.0.1', port: 5432, database: 'device_params', user: 'iot_user', password: 'iot_password' })
}

/** The time-series database from TIMESCALE_HOST/PORT/DB/USER/PASSWORD (the seed's names). For command-line entry points. */
export function timeseriesConfigFromEnv (env: Env = process.env): PgConnectionConfig {
  return fromEnv(env, 'TIMESCALE', { host: '127.0.0.1', port: 5433, database: 'timeseries', user: 'ts_user', password: 'ts_password' })
}

/**
 * Opens a postgres.js pool. Server notices are dropped unless `onnotice` is given
 * (postgres.js would print them to the console).
 */
export function connect (target: PgTarget, options: postgres.Options<Record<string, postgres.PostgresType>> = {}): postgres.Sql {
  const base = { onnotice: () => {}, ...options }
  if (typeof target === 'string') return postgres(target, base)
  return postgres({ ...base, host: target.host, port: target.port, database: target.database, username: target.user, password: target.password })
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
