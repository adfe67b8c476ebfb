import { z } from 'zod'
import { env, loadConfig, type Env } from '../config.ts'
import { portOffsetField, STACK_HOST, STACK_PORTS, type WithPortOffset } from './stack-ports.ts'

/** Where a PostgreSQL database is and as whom to log in. */
export interface PostgresConnection { host: string, port: number, database: string, user: string, password: string }

/**
 * The project's two databases, each read from the seed's `<PREFIX>_HOST/PORT/DB/USER/PASSWORD`
 * variables: the registry (POSTGRES_*) and the time-series store (TIMESCALE_*). Unset, host and
 * port are the native stack's (with F2_STACK_PORT_OFFSET).
 */
export const DATABASES = Object.freeze({
  registry: Object.freeze({ prefix: 'POSTGRES', port: STACK_PORTS.registry, database: 'device_params' }),
  timeseries: Object.freeze({ prefix: 'TIMESCALE', port: STACK_PORTS.timeseries, database: 'timeseries' })
} as const)

export type DatabaseKind = keyof typeof DATABASES
type Prefix<K extends DatabaseKind> = typeof DATABASES[K]['prefix']

type Fields<P extends string, Pw extends z.ZodType> = {
  [F in `${P}_HOST` | `${P}_DB` | `${P}_USER`]: z.ZodDefault<z.ZodString>
} & {
  [F in `${P}_PORT`]: ReturnType<typeof env.port>
} & {
  [F in `${P}_PASSWORD`]: Pw
} & typeof portOffsetField

const requiredPassword = (prefix: string) => z.string({
  error: `required: the password of ${prefix}_USER (there is no default; by hand on the native stack: eval "$(npm run -s db -- env)"; see docs/operations/deployment-security.md)`
})

/**
 * The fields of `kind`'s database, logging in as `user` unless `<PREFIX>_USER` says otherwise.
 * The password has no default: a service started without one fails at start-up
 * (F2_CONFIG_INVALID) instead of trying a well-known password. `passwordOptional` is for the
 * few readers that supply it themselves (a test harness reading the stack's secrets, a
 * simulator that does not always use the registry).
 */
export function postgresFields<K extends DatabaseKind> (kind: K, user: string): Fields<Prefix<K>, z.ZodString>
export function postgresFields<K extends DatabaseKind> (kind: K, user: string, options: { passwordOptional: true }): Fields<Prefix<K>, z.ZodOptional<z.ZodString>>
export function postgresFields (kind: DatabaseKind, user: string, options: { passwordOptional?: boolean } = {}): Record<string, z.ZodType> {
  const { prefix, database } = DATABASES[kind]
  return {
    [`${prefix}_HOST`]: env.string(STACK_HOST),
    [`${prefix}_PORT`]: env.port(),
    [`${prefix}_DB`]: env.string(database),
    [`${prefix}_USER`]: env.string(user),
    [`${prefix}_PASSWORD`]: options.passwordOptional === true ? z.string().optional() : requiredPassword(prefix),
    ...portOffsetField
  }
}

/**
 * `kind`'s database for a command-line entry point (migrate, registry, token), as `user`
 * unless `<PREFIX>_USER` says otherwise: the same strict fields as the services', so a bad
 * port is F2_CONFIG_INVALID, never a silent default. For the native stack,
 * `eval "$(npm run -s db -- env)"` sets the owners' variables.
 */
export function databaseFromEnv (kind: DatabaseKind, user: string, source: Env = process.env): PostgresConnection {
  return Object.freeze(pickPostgres(kind, loadConfig(`${kind} database`, z.object(postgresFields(kind, user)), source)))
}

/** The connection from values parsed with `postgresFields(kind, …)`; `password` stands in for an unset optional one. */
export function pickPostgres (kind: DatabaseKind, values: WithPortOffset, password?: string): PostgresConnection {
  const { prefix, port } = DATABASES[kind]
  const v = values as unknown as Record<string, unknown>
  return {
    host: v[`${prefix}_HOST`] as string,
    port: (v[`${prefix}_PORT`] as number | undefined) ?? port + values.F2_STACK_PORT_OFFSET,
    database: v[`${prefix}_DB`] as string,
    user: v[`${prefix}_USER`] as string,
    password: (v[`${prefix}_PASSWORD`] as string | undefined) ?? password ?? ''
  }
}

/** The inverse of `postgresFields`: a connection as `kind`'s seed variables (to start a service with). */
export function postgresEnv (kind: DatabaseKind, target: string | PostgresConnection): Record<string, string> {
  const c = typeof target === 'string' ? fromUrl(target) : target
  const { prefix } = DATABASES[kind]
  return {
    [`${prefix}_HOST`]: c.host,
    [`${prefix}_PORT`]: String(c.port),
    [`${prefix}_DB`]: c.database,
    [`${prefix}_USER`]: c.user,
    [`${prefix}_PASSWORD`]: c.password
  }
}

/** A `postgres://` URL for `c`. */
export function postgresUrl (c: PostgresConnection): string {
  return `postgres://${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}@${c.host.includes(':') ? `[${c.host}]` : c.host}:${c.port}/${encodeURIComponent(c.database)}`
}

function fromUrl (url: string): PostgresConnection {
  const u = new URL(url)
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port === '' ? 5432 : Number(u.port),
    database: decodeURIComponent(u.pathname.slice(1)),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password)
  }
}
